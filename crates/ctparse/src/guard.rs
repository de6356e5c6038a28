//! A mapped file that shrinks while it is read: a message and an exit
//! instead of the bare `SIGBUS` that kills the process.
//!
//! When another process truncates a mapped file (a capture rewritten in
//! place with `conntrack -L > dump.txt`, a log rotation's `copytruncate`),
//! reading the pages that are gone faults, and the kernel sends `SIGBUS`:
//! by default the process dies with "Bus error" and nothing else. A
//! program that installs [`exit_when_mapped_file_shrinks`] gets, instead,
//! the message it chose for that file on stderr (once, whichever threads
//! fault) and the exit code it chose. The handler only acts on a fault
//! inside a file mapped by [`Source::open`](crate::Source::open) after the
//! call; any other `SIGBUS` goes to the handler that was there before
//! (Rust's own, or the default action).

use std::io;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

/// How many mapped files are watched at once; the ones mapped beyond
/// that keep the default action.
const SLOTS: usize = 64;

/// A watched file: its mapped range and its message. Published whole
/// through one pointer, so the handler never sees half of one; leaked, as
/// the handler may read it at any time (a few hundred bytes a file).
#[cfg_attr(not(unix), allow(dead_code))]
struct Entry {
    start: usize,
    end: usize,
    message: Box<[u8]>,
}

/// The watched files; null where a slot is free.
static WATCHED: [AtomicPtr<Entry>; SLOTS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

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
/// message is built when the file is mapped, and leaked (each mapping's
/// own, a few hundred bytes). Other threads that fault at the same time
/// wait for that exit, so the message comes once.
///
/// Only the first call counts; later ones return `Ok` and change nothing.
/// An error when the handler cannot be installed. Elsewhere than on Unix
/// it does nothing (a mapped file cannot be truncated on Windows).
///
/// It is for a program that reads a map itself (through its `Deref`):
/// `ctanalyze::Analyzer`'s passes read a mapped file with positional
/// reads, and a file cut short under them is an error, not a fault. It
/// changes the process: the handler stays installed for good, it chains
/// to the one before it for other faults, and it watches at most 64
/// mappings at a time (one mapped while that many are open is not
/// watched, and faults as it would without it).
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
    let Some(exit) = EXIT.get().filter(|_| cfg!(unix)) else {
        return Watch(None);
    };
    // Built before a slot is taken: nothing can fail in between.
    let start = map.as_ptr() as usize;
    let entry = Box::into_raw(Box::new(Entry {
        start,
        end: start + map.len(),
        message: (exit.message)(path).into_bytes().into_boxed_slice(),
    }));
    for (index, slot) in WATCHED.iter().enumerate() {
        if slot
            .compare_exchange(
                std::ptr::null_mut(),
                entry,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            return Watch(Some(index));
        }
    }
    // Every slot taken: never published, so freed here.
    drop(unsafe_free(entry));
    Watch(None)
}

/// The entry back as a box, to drop it: only for one never published.
#[allow(unsafe_code)]
fn unsafe_free(entry: *mut Entry) -> Box<Entry> {
    // SAFETY: `entry` comes from `Box::into_raw` in `watch` and was never
    // stored in a slot, so nothing else holds it.
    unsafe { Box::from_raw(entry) }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(index) = self.0 {
            // The entry stays allocated: the handler may be reading it.
            WATCHED[index].store(std::ptr::null_mut(), Ordering::Release);
        }
    }
}

/// The message of the watched file whose range holds `addr`.
#[cfg(unix)]
#[allow(unsafe_code)]
fn message_at(addr: usize) -> Option<&'static [u8]> {
    WATCHED.iter().find_map(|slot| {
        let entry = slot.load(Ordering::Acquire);
        // SAFETY: a published entry is never freed (see `Watch::drop`).
        let entry: &'static Entry = unsafe { entry.as_ref() }?;
        (entry.start..entry.end)
            .contains(&addr)
            .then_some(&*entry.message)
    })
}

/// The `SIGBUS` action before ours, to hand other signals to.
#[cfg(unix)]
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Set by the first thread that reports a watched fault.
#[cfg(unix)]
static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cfg(unix)]
#[allow(unsafe_code)]
fn install() -> io::Result<()> {
    // SAFETY: a zeroed `sigaction` is valid (no flags, empty mask until
    // `sigemptyset` fills it); the handler only calls async-signal-safe
    // functions (`write`, `_exit`, `pause`, `sigaction`, `raise`) and
    // reads atomics and leaked entries.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
        // On the alternate stack where the thread has one, as Rust's own
        // handler runs (a stack overflow arrives as SIGBUS on some systems).
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        // The action before ours is kept first, so that the handler
        // always finds it.
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) != 0 {
            return Err(io::Error::last_os_error());
        }
        let _ = PREVIOUS.set(previous);
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
extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid `siginfo_t` with SA_SIGINFO; the
    // calls are async-signal-safe; the previous action was saved before
    // this handler could run.
    unsafe {
        // A fault the kernel raised (si_code > 0), not `kill -BUS`.
        let fault = (*info).si_code > 0;
        if fault
            && let (Some(message), Some(exit)) =
                (message_at((*info).si_addr() as usize), EXIT.get())
        {
            if REPORTED.swap(true, Ordering::AcqRel) {
                // Another thread is writing the message and exiting.
                loop {
                    libc::pause();
                }
            }
            let mut rest = message;
            while !rest.is_empty() {
                let written = libc::write(2, rest.as_ptr().cast(), rest.len());
                if written <= 0 {
                    break;
                }
                rest = &rest[written as usize..];
            }
            libc::_exit(exit.code);
        }
        if !fault {
            // Sent (`kill -BUS`): the default action, as without a handler.
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGBUS, &default, std::ptr::null_mut());
            libc::raise(libc::SIGBUS);
            return;
        }
        // A fault outside the watched files: the action before ours (Rust's
        // stack-overflow report, or the default, met again when the
        // faulting instruction runs again).
        let Some(previous) = PREVIOUS.get() else {
            return;
        };
        let handler = previous.sa_sigaction;
        if previous.sa_flags & libc::SA_SIGINFO != 0
            && handler != libc::SIG_DFL
            && handler != libc::SIG_IGN
        {
            let call: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(handler);
            call(signal, info, context);
            return;
        }
        libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut());
    }
}
