//! Finding an application's top-level window: the one whose `_NET_WM_PID`
//! is the launched process, or else the first new one mapped after launch.

use std::collections::HashSet;

use x11rb::protocol::xproto::{AtomEnum, ConfigureWindowAux, ConnectionExt as _, MapState};
use x11rb::rust_connection::RustConnection;

pub struct WindowFinder {
    conn: RustConnection,
    root: u32,
    net_wm_pid: u32,
    /// Windows that existed before the launch (never the app's).
    before: HashSet<u32>,
}

impl WindowFinder {
    /// Remembers the windows already mapped on `display`.
    pub fn new(display: &str) -> anyhow::Result<WindowFinder> {
        let (conn, root) = super::connect(display)?;
        let net_wm_pid = conn.intern_atom(false, b"_NET_WM_PID")?.reply()?.atom;
        let mut finder = WindowFinder {
            conn,
            root,
            net_wm_pid,
            before: HashSet::new(),
        };
        finder.before = finder.viewable_children()?.into_iter().collect();
        Ok(finder)
    }

    fn viewable_children(&self) -> anyhow::Result<Vec<u32>> {
        let children = self.conn.query_tree(self.root)?.reply()?.children;
        let mut viewable = Vec::new();
        for window in children {
            let Ok(attributes) = self.conn.get_window_attributes(window)?.reply() else {
                continue; // gone meanwhile
            };
            if attributes.map_state == MapState::VIEWABLE && !attributes.override_redirect {
                viewable.push(window);
            }
        }
        Ok(viewable)
    }

    fn pid_of(&self, window: u32) -> Option<u32> {
        let reply = self
            .conn
            .get_property(false, window, self.net_wm_pid, AtomEnum::CARDINAL, 0, 1)
            .ok()?
            .reply()
            .ok()?;
        reply.value32()?.next()
    }

    /// The app's window if it is mapped now: `_NET_WM_PID == pid` first,
    /// then any new window that names no other process.
    pub fn find(&self, pid: u32) -> anyhow::Result<Option<u32>> {
        let new: Vec<u32> = self
            .viewable_children()?
            .into_iter()
            .filter(|w| !self.before.contains(w))
            .collect();
        if let Some(&window) = new.iter().find(|&&w| self.pid_of(w) == Some(pid)) {
            return Ok(Some(window));
        }
        Ok(new.into_iter().find(|&w| self.pid_of(w).is_none()))
    }

    /// Asks for the window at `width × height` at the top-left corner, and
    /// gives it the keyboard focus (no window manager does this for us).
    pub fn place(&self, window: u32, width: u32, height: u32) -> anyhow::Result<()> {
        self.conn.configure_window(
            window,
            &ConfigureWindowAux::new()
                .x(0)
                .y(0)
                .width(width)
                .height(height),
        )?;
        self.conn.set_input_focus(
            x11rb::protocol::xproto::InputFocus::POINTER_ROOT,
            window,
            x11rb::CURRENT_TIME,
        )?;
        // A round trip: both requests are done when it returns.
        self.conn.get_input_focus()?.reply()?;
        Ok(())
    }
}
