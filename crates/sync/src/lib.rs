//! The desktop's sync engine: keeps a device's local store and the central
//! server in step (pull, push, blob uploads, background loop).
