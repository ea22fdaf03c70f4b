//! The lab's X display as a window manager would see it (feature `desktop`): which top-level
//! windows of a title are visible, and asking them to close the way a close button does
//! (`WM_DELETE_WINDOW`). The lab's Xvfb runs no window manager, so tests and the benchmark do
//! its part. Over libX11, loaded at run time (x11-dl), so building needs no X headers.

use std::ffi::{CStr, CString};
use std::os::raw::{c_int, c_long, c_uint, c_ulong};
use std::ptr;

use x11_dl::xlib;

/// An X error handler that lets the failed request return its failure status.
unsafe extern "C" fn ignore_x_error(_: *mut xlib::Display, _: *mut xlib::XErrorEvent) -> c_int {
    0
}

/// A connection to one X display, closed on drop.
pub struct Display {
    xlib: xlib::Xlib,
    display: *mut xlib::Display,
}

impl Drop for Display {
    fn drop(&mut self) {
        // SAFETY: `display` came from XOpenDisplay and is closed once, here.
        unsafe { (self.xlib.XCloseDisplay)(self.display) };
    }
}

impl Display {
    /// Connects to `name` (`:99`).
    pub fn open(name: &str) -> Result<Display, String> {
        let xlib = xlib::Xlib::open().map_err(|e| format!("cannot load libX11 (package libx11-6): {e}"))?;
        let name = CString::new(name).map_err(|_| format!("{name:?} is not a display name"))?;
        // Xlib's default handler ends the process on any error, and a window can go away between
        // listing it and asking its attributes (an app closing): such a window reads as not
        // viewable and untitled instead. The handler is process-wide; nothing else here speaks X.
        // SAFETY: installs a function that only returns.
        unsafe { (xlib.XSetErrorHandler)(Some(ignore_x_error)) };
        // SAFETY: a valid C string; a null result is checked.
        let display = unsafe { (xlib.XOpenDisplay)(name.as_ptr()) };
        if display.is_null() {
            return Err(format!("cannot open the X display {name:?}"));
        }
        Ok(Display { xlib, display })
    }

    /// Top-level windows (children of the root window) titled exactly `title` that are mapped.
    pub fn visible_windows(&self, title: &str) -> Vec<c_ulong> {
        self.top_level_windows()
            .into_iter()
            .filter(|&window| self.is_viewable(window) && self.title(window).as_deref() == Some(title))
            .collect()
    }

    /// Asks every visible window titled `title` to close, as a window manager's close button
    /// does; returns how many were asked.
    pub fn request_close(&self, title: &str) -> usize {
        let windows = self.visible_windows(title);
        // SAFETY: atoms are interned from valid C strings on an open display; the event is a
        // fully initialized ClientMessage sent to windows that exist on it.
        unsafe {
            let protocols = (self.xlib.XInternAtom)(self.display, c"WM_PROTOCOLS".as_ptr(), xlib::False);
            let delete = (self.xlib.XInternAtom)(self.display, c"WM_DELETE_WINDOW".as_ptr(), xlib::False);
            for &window in &windows {
                let mut data = xlib::ClientMessageData::new();
                data.set_long(0, delete as c_long);
                data.set_long(1, xlib::CurrentTime as c_long);
                let mut event = xlib::XEvent {
                    client_message: xlib::XClientMessageEvent {
                        type_: xlib::ClientMessage,
                        serial: 0,
                        send_event: xlib::True,
                        display: self.display,
                        window,
                        message_type: protocols,
                        format: 32,
                        data,
                    },
                };
                (self.xlib.XSendEvent)(self.display, window, xlib::False, xlib::NoEventMask, &mut event);
            }
            (self.xlib.XFlush)(self.display);
        }
        windows.len()
    }

    fn top_level_windows(&self) -> Vec<c_ulong> {
        // SAFETY: XQueryTree fills the out-pointers; the children array is freed with XFree.
        unsafe {
            let root = (self.xlib.XDefaultRootWindow)(self.display);
            let (mut root_out, mut parent) = (0, 0);
            let mut children: *mut c_ulong = ptr::null_mut();
            let mut count: c_uint = 0;
            if (self.xlib.XQueryTree)(
                self.display,
                root,
                &mut root_out,
                &mut parent,
                &mut children,
                &mut count,
            ) == 0
                || children.is_null()
            {
                return Vec::new();
            }
            let windows = std::slice::from_raw_parts(children, count as usize).to_vec();
            (self.xlib.XFree)(children.cast());
            windows
        }
    }

    fn is_viewable(&self, window: c_ulong) -> bool {
        // SAFETY: XGetWindowAttributes fills a zeroed plain-data struct.
        unsafe {
            let mut attributes: xlib::XWindowAttributes = std::mem::zeroed();
            (self.xlib.XGetWindowAttributes)(self.display, window, &mut attributes) != 0
                && attributes.map_state == xlib::IsViewable
        }
    }

    fn title(&self, window: c_ulong) -> Option<String> {
        // SAFETY: XFetchName allocates the name, which is copied and freed with XFree.
        unsafe {
            let mut name: *mut std::os::raw::c_char = ptr::null_mut();
            if (self.xlib.XFetchName)(self.display, window, &mut name) == 0 || name.is_null() {
                return None;
            }
            let title = CStr::from_ptr(name).to_string_lossy().into_owned();
            (self.xlib.XFree)(name.cast());
            Some(title)
        }
    }
}
