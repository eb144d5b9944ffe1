#![no_main]
//! Any text as an IAM policy: parsed or refused with an error, never a panic;
//! a parsed policy decides a fixed set of requests consistently.
use common::policy::{ACTIONS, Decision, Policy, RequestContext, evaluate, explain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::parse(text) else {
        return;
    };
    let policies = std::slice::from_ref(&policy);
    for (i, resource) in ["*", "application/demo", "application/demo/session/s-1"]
        .into_iter()
        .enumerate()
    {
        let request = RequestContext {
            action: ACTIONS[i * 5 % ACTIONS.len()],
            resource,
            source_ip: [
                None,
                Some([192, 168, 1, 20].into()),
                Some([0u16, 0, 0, 0, 0, 0xffff, 0x0a00, 1].into()),
            ][i],
            current_time_unix_s: 1_800_000_000,
            mfa_present: [None, Some(true), Some(false)][i],
            secure_transport: i != 2,
        };
        let explanation = explain(policies, &request);
        assert_eq!(evaluate(policies, &request), explanation.decision);
        // Only an implicit deny has no deciding statement.
        assert_eq!(
            explanation.policy_index.is_none(),
            explanation.decision == Decision::ImplicitDeny
        );
    }
});
