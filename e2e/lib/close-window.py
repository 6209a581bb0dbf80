"""Closes the top-level windows of a process the way a window manager's
close button does: a WM_DELETE_WINDOW message to each (the app then quits
through its own exit path). WebDriver cannot do this: ending a session or
closing its window ends the app without that path, and the E2E display
has no window manager.

    python3 close-window.py <pid>

Exits 1 when the process has no window on $DISPLAY. Plain libX11 through
ctypes: nothing to install beyond python3.
"""

import ctypes
import sys

CLIENT_MESSAGE = 33
XA_CARDINAL = 6


class ClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class XEvent(ctypes.Union):
    # XEvent is 24 longs whatever its kind.
    _fields_ = [("xclient", ClientMessageEvent), ("pad", ctypes.c_long * 24)]


def load_x11():
    x = ctypes.cdll.LoadLibrary("libX11.so.6")
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XDefaultRootWindow.restype = ctypes.c_ulong
    x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x.XInternAtom.restype = ctypes.c_ulong
    x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x.XQueryTree.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
        ctypes.POINTER(ctypes.c_uint),
    ]
    x.XGetWindowProperty.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_ulong,
        ctypes.c_long,
        ctypes.c_long,
        ctypes.c_int,
        ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)),
    ]
    x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x.XFree.argtypes = [ctypes.c_void_p]
    x.XFlush.argtypes = [ctypes.c_void_p]
    return x


def window_pid(x, display, window, net_wm_pid):
    """The _NET_WM_PID a window's toolkit set on it, or None."""
    actual_type = ctypes.c_ulong()
    actual_format = ctypes.c_int()
    count = ctypes.c_ulong()
    after = ctypes.c_ulong()
    data = ctypes.POINTER(ctypes.c_ubyte)()
    status = x.XGetWindowProperty(
        display, window, net_wm_pid, 0, 1, 0, XA_CARDINAL,
        ctypes.byref(actual_type), ctypes.byref(actual_format),
        ctypes.byref(count), ctypes.byref(after), ctypes.byref(data),
    )
    if status != 0 or not data:
        return None
    try:
        if count.value < 1 or actual_format.value != 32:
            return None
        # Format-32 properties come back as C longs.
        return ctypes.cast(data, ctypes.POINTER(ctypes.c_long))[0]
    finally:
        x.XFree(data)


def main():
    pid = int(sys.argv[1])
    x = load_x11()
    display = x.XOpenDisplay(None)
    if not display:
        sys.exit("cannot open the X display")
    root = x.XDefaultRootWindow(display)
    net_wm_pid = x.XInternAtom(display, b"_NET_WM_PID", 0)
    protocols = x.XInternAtom(display, b"WM_PROTOCOLS", 0)
    delete_window = x.XInternAtom(display, b"WM_DELETE_WINDOW", 0)

    root_out = ctypes.c_ulong()
    parent = ctypes.c_ulong()
    children = ctypes.POINTER(ctypes.c_ulong)()
    count = ctypes.c_uint()
    x.XQueryTree(display, root, ctypes.byref(root_out), ctypes.byref(parent), ctypes.byref(children), ctypes.byref(count))
    # Without a window manager, top-level windows are the root's children.
    windows = [children[i] for i in range(count.value)]
    if children:
        x.XFree(children)
    closed = 0
    for window in windows:
        if window_pid(x, display, window, net_wm_pid) != pid:
            continue
        event = XEvent()
        event.xclient.type = CLIENT_MESSAGE
        event.xclient.window = window
        event.xclient.message_type = protocols
        event.xclient.format = 32
        event.xclient.data[0] = delete_window
        x.XSendEvent(display, window, 0, 0, ctypes.byref(event))
        closed += 1
    x.XFlush(display)
    if closed == 0:
        sys.exit(f"process {pid} has no window on this display")


if __name__ == "__main__":
    main()
