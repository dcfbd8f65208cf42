/**
 * Hardening presets for `--seccomp_preset`, written in Kafel so they read like
 * policies and compile through the same front end. The sets follow the ideas
 * of fortify/hakurei (and flatpak before it): close the calls a jailed program
 * has no business making, and answer so that programs degrade gracefully.
 *
 * Answers: EPERM for a refusal; ENOSYS where a newer call whose arguments live
 * in memory (clone3, the mount API, io_uring) has an older fallback that a
 * filter can inspect, so libc and libraries behave as on a kernel without it;
 * EAFNOSUPPORT for socket families, as a kernel without the family would.
 *
 * Calls that exist only on 32-bit arches (stime, vm86, vm86old,
 * clock_settime64, chown32…) are not named: tsjail's filter checks the arch
 * first and kills any call made through another arch's entry point.
 * src/seccomp/README.md lists each preset's exact contents.
 */
export type PresetName =
  | 'deny_common' | 'deny_system' | 'deny_userns' | 'deny_mount' | 'deny_chown' | 'deny_setid'
  | 'deny_emu' | 'deny_socket_family' | 'deny_personality' | 'deny_io_uring' | 'deny_tty' | 'deny_devel';

export const PRESETS: Readonly<Record<PresetName, string>> = {
  // Host-wide state no jail should read or change: the kernel log, process
  // accounting, disk quotas, the kernel keyrings, NUMA placement of memory, and
  // obsolete calls (uselib loads a library the a.out way; lookup_dcookie served oprofile).
  deny_common: `
    ERRNO(1) {
      syslog, uselib, acct, quotactl, quotactl_fd, lookup_dcookie,
      add_key, keyctl, request_key,
      mbind, get_mempolicy, set_mempolicy, set_mempolicy_home_node, migrate_pages, move_pages
    }`,
  // The machine itself: clock and time, kernel modules, kexec, reboot, swap.
  deny_system: `
    ERRNO(1) {
      adjtimex, clock_adjtime, clock_settime, settimeofday,
      init_module, finit_module, delete_module,
      kexec_load, kexec_file_load, reboot,
      swapon, swapoff
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
  // Changing the file-system tree: mount(2) and the fd-based mount API (whose
  // ENOSYS sends libmount back to mount(2), refused with EPERM), chroot, pivot_root.
  deny_mount: `
    ERRNO(1) { mount, umount2, pivot_root, chroot }
    ERRNO(38) { open_tree, open_tree_attr, move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr }`,
  // Giving files away: every chown form.
  deny_chown: `
    ERRNO(1) { chown, lchown, fchown, fchownat }`,
  // Changing process credentials. Not in 'default': a program that drops
  // privileges would fail to (see README.md).
  deny_setid: `
    ERRNO(1) { setuid, setgid, setreuid, setregid, setresuid, setresgid, setfsuid, setfsgid, setgroups }`,
  // Legacy x86 execution modes: per-process LDT segments (16-bit code, some
  // Wine builds) and I/O port access.
  deny_emu: `
    ERRNO(1) { modify_ldt, iopl, ioperm }`,
  // Only local (AF_UNIX), IPv4, IPv6 and netlink sockets; other families are
  // large, rarely audited kernel code (packet, vsock, alg, bluetooth, can…).
  // family is an int: compared on 32 bits as the kernel reads it.
  deny_socket_family: `
    #define AF_UNIX    1
    #define AF_INET    2
    #define AF_INET6   10
    #define AF_NETLINK 16
    ERRNO(97) {
      socket { family != AF_UNIX && family != AF_INET && family != AF_INET6 && family != AF_NETLINK },
      socketpair { family != AF_UNIX && family != AF_INET && family != AF_INET6 && family != AF_NETLINK }
    }`,
  // personality: only the plain Linux personalities, PER_LINUX32, UNAME26
  // (old version strings for old binaries), and the 0xffffffff query. Flags
  // that weaken the process (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC,
  // MMAP_PAGE_ZERO…) and foreign personalities are refused.
  deny_personality: `
    #define PER_LINUX        0x0000
    #define PER_LINUX32      0x0008
    #define UNAME26          0x20000
    #define PER_QUERY        0xffffffff
    ERRNO(1) {
      personality {
        personality != PER_LINUX && personality != PER_LINUX32 &&
        personality != UNAME26 && personality != (UNAME26 | PER_LINUX32) && personality != PER_QUERY
      }
    }`,
  // io_uring performs opens, reads, writes, socket calls… inside the kernel,
  // where seccomp never sees them. ENOSYS: as on a kernel built without it.
  deny_io_uring: `
    ERRNO(38) { io_uring_setup, io_uring_enter, io_uring_register }`,
  // Terminal input injection: TIOCSTI pushes bytes into the tty's input queue,
  // TIOCLINUX (subcode 2/3) pastes the console selection. cmd is an unsigned int,
  // so the comparison ignores high bits, as the kernel does.
  deny_tty: `
    #define TIOCSTI   0x5412
    #define TIOCLINUX 0x541C
    ERRNO(1) { ioctl { cmd == TIOCSTI || cmd == TIOCLINUX } }`,
  // Debugging, tracing and cross-process introspection; userfaultfd both as
  // the call and through /dev/userfaultfd's USERFAULTFD_IOC_NEW (_IO(0xAA, 0x00)),
  // a way to stall the kernel in a page fault at a chosen moment.
  deny_devel: `
    #define USERFAULTFD_IOC_NEW 0xAA00
    ERRNO(1) {
      ptrace, process_vm_readv, process_vm_writev, perf_event_open, bpf, kcmp, userfaultfd, pidfd_getfd,
      ioctl { cmd == USERFAULTFD_IOC_NEW }
    }`,
};

/** Names that stand for several presets. */
export const PRESET_GROUPS: Readonly<Record<string, readonly PresetName[]>> = {
  // fortify's full namespace set.
  deny_ns: ['deny_userns', 'deny_mount', 'deny_chown', 'deny_setid'],
  // Everything that leaves ordinary programs working: all but deny_setid.
  default: [
    'deny_common', 'deny_system', 'deny_userns', 'deny_mount', 'deny_chown', 'deny_emu',
    'deny_socket_family', 'deny_personality', 'deny_io_uring', 'deny_tty', 'deny_devel',
  ],
};

export const isPresetName = (s: string): s is PresetName => Object.hasOwn(PRESETS, s);

/** Every name --seccomp_preset accepts, for messages and help. */
export const presetNames = (): string[] => [...Object.keys(PRESETS), ...Object.keys(PRESET_GROUPS)];

/** The presets behind names and groups, each once, in the order first named; undefined for an unknown name. */
export function expandPresets(names: readonly string[]): { presets: PresetName[]; unknown?: string } {
  const out = new Set<PresetName>();
  for (const name of names) {
    const group = Object.hasOwn(PRESET_GROUPS, name) ? PRESET_GROUPS[name]! : isPresetName(name) ? [name] : undefined;
    if (!group) return { presets: [...out], unknown: name };
    for (const p of group) out.add(p);
  }
  return { presets: [...out] };
}
