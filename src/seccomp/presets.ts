/**
 * Hardening presets for `--seccomp_preset`, written in Kafel so they read like
 * policies and compile through the same front end. Every denial is EPERM,
 * except clone3, which answers ENOSYS so glibc (≥ 2.34 uses clone3 for threads
 * and posix_spawn) falls back to clone, whose flags a filter can inspect.
 */
export type PresetName = 'deny_devel' | 'deny_userns' | 'deny_tty';

export const PRESETS: Readonly<Record<PresetName, string>> = {
  // Debugging, tracing and cross-process introspection.
  deny_devel: `
    ERRNO(1) {
      ptrace, process_vm_readv, process_vm_writev, perf_event_open, bpf, kcmp, userfaultfd, pidfd_getfd
    }`,
  // Creating or joining namespaces. clone's low byte is the exit signal (CSIGNAL),
  // so CLONE_NEWTIME (0x80) is checked for unshare only.
  deny_userns: `
    #define CLONE_NEWTIME   0x00000080
    #define CLONE_NEWNS     0x00020000
    #define CLONE_NEWCGROUP 0x02000000
    #define CLONE_NEWUTS    0x04000000
    #define CLONE_NEWIPC    0x08000000
    #define CLONE_NEWUSER   0x10000000
    #define CLONE_NEWPID    0x20000000
    #define CLONE_NEWNET    0x40000000
    ERRNO(1) {
      unshare {
        (unshare_flags & (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME)) != 0
      },
      clone {
        (clone_flags & (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                        CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)) != 0
      },
      setns
    }
    ERRNO(38) { clone3 }`,
  // Terminal input injection: TIOCSTI pushes bytes into the tty's input queue,
  // TIOCLINUX (subcode 2/3) pastes the console selection. cmd is an unsigned int,
  // so the comparison ignores high bits, as the kernel does.
  deny_tty: `
    #define TIOCSTI   0x5412
    #define TIOCLINUX 0x541C
    ERRNO(1) { ioctl { cmd == TIOCSTI || cmd == TIOCLINUX } }`,
};

export const isPresetName = (s: string): s is PresetName => Object.hasOwn(PRESETS, s);
