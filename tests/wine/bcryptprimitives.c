/* Wine 8 lacks bcryptprimitives.dll, whose ProcessPrng Rust's standard
 * library imports on Windows. For the Wine tests only; never shipped (Windows
 * has the real one). Built by scripts/test-windows beside viewer.exe. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
