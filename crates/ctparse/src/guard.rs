//! A mapped file that shrinks while it is read: a message and an exit
//! instead of the bare `SIGBUS` that kills the process.
//!
//! When another process truncates a mapped file (a capture rewritten in
//! place with `conntrack -L > dump.txt`, a log rotation's `copytruncate`),
//! reading the pages that are gone faults, and the kernel sends `SIGBUS`:
//! by default the process dies with "Bus error" and nothing else. A
//! program that installs [`exit_when_mapped_file_shrinks`] gets, instead,
//! the message it chose for that file on stderr and the exit code it
//! chose. The handler only acts on a fault inside a file mapped by
//! [`Source::open`](crate::Source::open) after the call; any other `SIGBUS`
//! keeps its default action.

use std::io;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// How many mapped files are watched at once; the ones mapped beyond
/// that keep the default action.
const SLOTS: usize = 64;

/// One mapped file: its address range and its message (leaked: a few
/// hundred bytes a file, and the handler may read it at any time).
struct Slot {
    /// The first mapped address, 0 when the slot is free.
    start: AtomicUsize,
    end: AtomicUsize,
    message: AtomicPtr<u8>,
    len: AtomicUsize,
}

static WATCHED: [Slot; SLOTS] = [const {
    Slot {
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        message: AtomicPtr::new(std::ptr::null_mut()),
        len: AtomicUsize::new(0),
    }
}; SLOTS];

/// What the program asked for: the message of a file, and the exit code.
struct Exit {
    message: fn(&Path) -> String,
    code: i32,
}

static EXIT: OnceLock<Exit> = OnceLock::new();

/// From now on, a read of a page that another process cut off a file
/// mapped by [`Source::open`](crate::Source::open) writes
/// `message(path)` to stderr and exits the process with `code`, without
/// unwinding or flushing anything (it runs in the signal handler). The
/// message is built when the file is mapped.
///
/// Only the first call counts; later ones return `Ok` and change nothing.
/// An error when the handler cannot be installed.
///
/// ```no_run
/// ctparse::exit_when_mapped_file_shrinks(
///     |path| format!("{}: the file shrank while it was read\n", path.display()),
///     2,
/// )?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn exit_when_mapped_file_shrinks(message: fn(&Path) -> String, code: u8) -> io::Result<()> {
    if EXIT.get().is_some() {
        return Ok(());
    }
    install()?;
    let _ = EXIT.set(Exit {
        message,
        code: i32::from(code),
    });
    Ok(())
}

/// A watched mapping; dropping it stops the watch (before the unmapping).
#[derive(Debug)]
pub(crate) struct Watch(Option<usize>);

/// Watches `map` (the bytes of the file at `path`) when the handler is
/// installed and a slot is free.
pub(crate) fn watch(map: &[u8], path: &Path) -> Watch {
    let Some(exit) = EXIT.get() else {
        return Watch(None);
    };
    let start = map.as_ptr() as usize;
    for (index, slot) in WATCHED.iter().enumerate() {
        // Claim a free slot with a placeholder start, fill it, then publish.
        if slot
            .start
            .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        let message: &'static mut [u8] = (exit.message)(path).into_bytes().leak();
        slot.len.store(message.len(), Ordering::Release);
        slot.message.store(message.as_mut_ptr(), Ordering::Release);
        slot.end.store(start + map.len(), Ordering::Release);
        slot.start.store(start, Ordering::Release);
        return Watch(Some(index));
    }
    Watch(None)
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(index) = self.0 {
            WATCHED[index].start.store(0, Ordering::Release);
        }
    }
}

/// The watched file whose range holds `addr`: its message.
#[cfg(unix)]
fn message_at(addr: usize) -> Option<(*const u8, usize)> {
    WATCHED.iter().find_map(|slot| {
        let start = slot.start.load(Ordering::Acquire);
        (start != 0
            && start != usize::MAX
            && (start..slot.end.load(Ordering::Acquire)).contains(&addr))
        .then(|| {
            (
                slot.message.load(Ordering::Acquire).cast_const(),
                slot.len.load(Ordering::Acquire),
            )
        })
    })
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn install() -> io::Result<()> {
    // SAFETY: a zeroed `sigaction` is valid (no flags, empty mask until
    // `sigemptyset` fills it); the handler only calls async-signal-safe
    // functions (`write`, `_exit`, `signal`) and reads atomics.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn install() -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
#[allow(unsafe_code)]
extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` with SA_SIGINFO; a
    // watched message is leaked, so valid for as long as the process.
    unsafe {
        let addr = (*info).si_addr() as usize;
        if let (Some((message, len)), Some(exit)) = (message_at(addr), EXIT.get()) {
            libc::write(2, message.cast(), len);
            libc::_exit(exit.code);
        }
        // Not a watched file's page: back to the default action, which
        // the faulting instruction meets again when the handler returns.
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}
