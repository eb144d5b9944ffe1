//! The audit log: search, paging, bounded fields, retention.

use super::*;

pub(super) fn the_audit_search_filters_and_pages(db: &Database) {
    let store = db.open();
    for at in 0..20 {
        store
            .audit(&AuditEntry {
                at,
                principal: Some(if at % 2 == 0 { "ann" } else { "bob" }.into()),
                method: "GET".into(),
                path: "/api".into(),
                action: Some("appstream:GetApplications".into()),
                decision: if at % 5 == 0 { "deny" } else { "allow" }.into(),
                status: 200,
                ..Default::default()
            })
            .unwrap();
    }
    let query = |q: AuditQuery| store.audit_search(&AuditQuery { limit: 100, ..q }).unwrap();
    let ann = query(AuditQuery {
        principal: Some("ann".into()),
        ..Default::default()
    });
    assert_eq!(ann.len(), 10);
    assert!(ann.windows(2).all(|w| w[0].0 > w[1].0), "newest first");
    let denied = query(AuditQuery {
        decision: Some("deny".into()),
        since: Some(5),
        until: Some(15),
        ..Default::default()
    });
    assert_eq!(
        denied.iter().map(|(_, e)| e.at).collect::<Vec<_>>(),
        [15, 10, 5]
    );
    let page = store
        .audit_search(&AuditQuery {
            limit: 5,
            ..Default::default()
        })
        .unwrap();
    let older = query(AuditQuery {
        before: Some(page[4].0),
        ..Default::default()
    });
    assert_eq!(older.len(), 15);
    assert_eq!(older[0].1.at, 14);
}

pub(super) fn audit_fields_are_bounded_and_retention_prunes(db: &Database) {
    let store = db.open();
    for at in 0..10 {
        store
            .audit(&AuditEntry {
                at,
                principal: Some("x".repeat(2 << 20)),
                method: "POST".into(),
                path: "/entitlement/signin".into(),
                decision: "signin_failed".into(),
                status: 401,
                ..Default::default()
            })
            .unwrap();
    }
    let newest = store.audit_log(1).unwrap().remove(0);
    let principal = newest.principal.unwrap();
    assert!(principal.len() <= 64 + 24, "{}", principal.len());
    assert!(principal.contains("…#"));
    assert_eq!(store.prune_audit(5, 2).unwrap(), 2 + 3);
    assert_eq!(store.audit_rows().unwrap(), 5);
}
