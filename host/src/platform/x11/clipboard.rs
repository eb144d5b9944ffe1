//! Clipboard text both ways through X selections (CLIPBOARD). Text from the
//! viewer makes us the selection's owner and we answer other clients'
//! requests; when another client takes the selection (XFixes tells us) we
//! fetch its text as UTF-8 and hand it to the session. Runs on its own
//! thread with its own connection and a hidden window.

use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xfixes::{ConnectionExt as _, SelectionEventMask};
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, CreateWindowAux, EventMask, PropMode, SELECTION_NOTIFY_EVENT,
    SelectionNotifyEvent, SelectionRequestEvent, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// Larger texts are not carried (a control message is at most 64 KiB).
pub const MAX_CLIPBOARD_BYTES: usize = 60 * 1024;
const POLL: Duration = Duration::from_millis(20);

/// The session's end of the clipboard thread.
pub struct X11Clipboard {
    set: mpsc::Sender<String>,
    /// Text another client put on the clipboard.
    pub changes: tokio::sync::mpsc::Receiver<String>,
}

impl X11Clipboard {
    pub fn start(display: &str) -> anyhow::Result<X11Clipboard> {
        let (conn, root) = super::connect(display)?;
        let atoms = Atoms::intern(&conn)?;
        conn.xfixes_query_version(5, 0)?
            .reply()
            .context("the X server has no XFIXES extension")?;
        let window = conn.generate_id()?;
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            window,
            root,
            0,
            0,
            1,
            1,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new().event_mask(EventMask::PROPERTY_CHANGE),
        )?;
        conn.xfixes_select_selection_input(
            window,
            atoms.clipboard,
            SelectionEventMask::SET_SELECTION_OWNER,
        )?;
        conn.flush()?;
        let (set, requests) = mpsc::channel();
        let (changes_tx, changes) = tokio::sync::mpsc::channel(8);
        let mut state = Owner {
            conn,
            window,
            atoms,
            text: None,
        };
        std::thread::Builder::new()
            .name("clipboard".into())
            .spawn(move || {
                if let Err(e) = state.run(&requests, &changes_tx) {
                    tracing::warn!(error = %format!("{e:#}"), "clipboard sharing stopped");
                }
            })?;
        Ok(X11Clipboard { set, changes })
    }

    /// Puts the viewer's text on the host's clipboard.
    pub fn set(&self, text: String) {
        let _ = self.set.send(text);
    }
}

struct Atoms {
    clipboard: u32,
    utf8: u32,
    targets: u32,
    transfer: u32,
}

impl Atoms {
    fn intern(conn: &RustConnection) -> anyhow::Result<Atoms> {
        let atom = |name: &[u8]| -> anyhow::Result<u32> {
            Ok(conn.intern_atom(false, name)?.reply()?.atom)
        };
        Ok(Atoms {
            clipboard: atom(b"CLIPBOARD")?,
            utf8: atom(b"UTF8_STRING")?,
            targets: atom(b"TARGETS")?,
            transfer: atom(b"APPSTREAM_CLIPBOARD")?,
        })
    }
}

struct Owner {
    conn: RustConnection,
    window: u32,
    atoms: Atoms,
    /// The text we own the selection with, if we do.
    text: Option<String>,
}

impl Owner {
    fn run(
        &mut self,
        requests: &mpsc::Receiver<String>,
        changes: &tokio::sync::mpsc::Sender<String>,
    ) -> anyhow::Result<()> {
        loop {
            match requests.recv_timeout(POLL) {
                Ok(text) => self.own(text)?,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // The session ended.
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
            while let Some(event) = self.conn.poll_for_event()? {
                match event {
                    Event::XfixesSelectionNotify(e) if e.owner != self.window => {
                        // Someone else copied: ask for their text.
                        self.text = None;
                        let a = &self.atoms;
                        self.conn.convert_selection(
                            self.window,
                            a.clipboard,
                            a.utf8,
                            a.transfer,
                            e.selection_timestamp,
                        )?;
                        self.conn.flush()?;
                    }
                    Event::SelectionNotify(e) if e.property != x11rb::NONE => {
                        if let Some(text) = self.fetch(e.property)? {
                            let _ = changes.try_send(text);
                        }
                    }
                    Event::SelectionRequest(e) => self.answer(&e)?,
                    Event::SelectionClear(_) => self.text = None,
                    _ => {}
                }
            }
        }
    }

    fn own(&mut self, text: String) -> anyhow::Result<()> {
        self.text = Some(text);
        self.conn
            .set_selection_owner(self.window, self.atoms.clipboard, x11rb::CURRENT_TIME)?;
        self.conn.flush()?;
        Ok(())
    }

    fn fetch(&self, property: u32) -> anyhow::Result<Option<String>> {
        let reply = self
            .conn
            .get_property(
                true,
                self.window,
                property,
                AtomEnum::ANY,
                0,
                (MAX_CLIPBOARD_BYTES / 4) as u32 + 1,
            )?
            .reply()?;
        if reply.bytes_after > 0 || reply.value.len() > MAX_CLIPBOARD_BYTES {
            tracing::warn!("clipboard text over 60 KiB is not shared");
            return Ok(None);
        }
        Ok(String::from_utf8(reply.value).ok())
    }

    /// Gives a pasting client our text (or the list of targets we offer).
    fn answer(&self, request: &SelectionRequestEvent) -> anyhow::Result<()> {
        let a = &self.atoms;
        // Obsolete clients name no property: use the target.
        let property = if request.property == x11rb::NONE {
            request.target
        } else {
            request.property
        };
        let answered = match &self.text {
            Some(_) if request.target == a.targets => {
                let offered = [a.targets, a.utf8, AtomEnum::STRING.into()];
                self.conn.change_property32(
                    PropMode::REPLACE,
                    request.requestor,
                    property,
                    AtomEnum::ATOM,
                    &offered,
                )?;
                true
            }
            Some(text)
                if request.target == a.utf8 || request.target == u32::from(AtomEnum::STRING) =>
            {
                self.conn.change_property8(
                    PropMode::REPLACE,
                    request.requestor,
                    property,
                    request.target,
                    text.as_bytes(),
                )?;
                true
            }
            _ => false,
        };
        let notify = SelectionNotifyEvent {
            response_type: SELECTION_NOTIFY_EVENT,
            sequence: 0,
            time: request.time,
            requestor: request.requestor,
            selection: request.selection,
            target: request.target,
            property: if answered { property } else { x11rb::NONE },
        };
        self.conn
            .send_event(false, request.requestor, EventMask::NO_EVENT, notify)?;
        self.conn.flush()?;
        Ok(())
    }
}
