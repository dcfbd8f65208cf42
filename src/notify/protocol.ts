/** Messages between the main thread (supervisor.ts) and the notification worker (worker.ts). */
import type { StatsData } from './report.js';

export interface WorkerInit {
  /** tsjail's end of the notify socket: listeners arrive on it. */
  readonly sock: number;
  /** Read end of the wake pipe: a byte there means messages are waiting. */
  readonly wake: number;
  /** The jail's original filter (sock_filter[]): its answer to each notified call is applied. Absent: everything passes. */
  readonly policy?: Uint8Array;
  /** A --seccomp_bpf_file program at the head of the notify filter (seccomp/notify.ts, withBpfFile): its answer counts too, as an older filter's. */
  readonly file?: Uint8Array;
  /** Record the traced calls for the report (--seccomp_unotify). */
  readonly trace: boolean;
  /** Also count every call by name (learn). */
  readonly learn: boolean;
  /** --landlock_log: the rules' paths; a traced file call on another path is handed over to be named. */
  readonly watch?: readonly string[];
  /** Listeners the main thread took before the worker started (lazy start): fd and the pid that sent it. */
  readonly adopt?: ReadonlyArray<{ readonly fd: number; readonly pid: number }>;
  /** The single binary's native parts as the main thread loaded them. */
  readonly native?: import('../linux/libc.js').NativePaths;
  /** Go module confinement: the program's tables and the confined modules. */
  readonly go?: GoInit;
}

/** What the worker needs to decide a call of the confined Go program (src/notify/go.ts). */
export interface GoInit {
  /** The host path it was read from (for messages). */
  readonly exe: string;
  /** The host file's `dev:ino`: a process whose /proc/PID/exe has it runs the program (a bind mount keeps both). */
  readonly devIno: string;
  /** The whole file, for processes whose executable has another identity (an overlay): same bytes, same program. Transferred, not copied. */
  readonly binary: Uint8Array;
  /** ET_DYN: loaded at a bias found from AT_ENTRY. */
  readonly pie: boolean;
  /** The ELF entry point (link-time). */
  readonly entry: bigint;
  /** It links runtime/cgo: code outside Go's text may have Go callers (else it is the dynamic loader's). */
  readonly cgo: boolean;
  /** File offset of go.func.* in `binary` (moduledata.gofunc): the inline trees, so inlined functions count as frames. */
  readonly gofunc?: number;
  /** The pclntab, from its header on (a view of `binary`). */
  readonly table: Uint8Array;
  /** The main module and every dependency of the build. */
  readonly modules: readonly string[];
  readonly confined: readonly string[];
  /** A stack that cannot be walked to its end: refuse the call (EPERM) or let it through. */
  readonly unwindFail: 'deny' | 'allow';
}

/** A notified call that Go module confinement decided. */
export interface GoEventInfo {
  /** The confined module found on the stack and its function (absent when the stack could not be walked). */
  readonly module?: string;
  readonly function?: string;
  /** Why the stack could not be walked. */
  readonly unwind?: string;
  /** The functions on the stack, innermost first. */
  readonly frames: readonly string[];
}

/** A notified call the main thread logs before the worker acts on it. */
export interface NotifyEvent {
  readonly t: 'event';
  readonly key: number;
  /** The process that installed the filter (the jail, or the program under --init's PID 1) and its parent. */
  readonly jail: number;
  readonly ppid: number;
  /** The calling thread, as tsjail sees it. */
  readonly tid: number;
  readonly nr: number;
  readonly arch: string;
  readonly ip: string;
  readonly syscall: string;
  readonly args: string[];
  /** `openat(AT_FDCWD, "/etc/passwd", O_RDONLY)`. */
  readonly call: string;
  /** The filter's answer: KILL_PROCESS, ERRNO(1), USER_NOTIF… */
  readonly action: string;
  /** What tsjail does about it. */
  readonly outcome: string;
  /** A refusal (else a USER_NOTIF rule, or a path outside the Landlock rules: let through). */
  readonly violation: boolean;
  /** --landlock_log: the path outside the rules, and what the jail and the host have there. */
  readonly landlock?: string;
  /** The last one of this jail that is logged; later ones are counted. */
  readonly last: boolean;
  /** The process gets SIGKILL for a KILL or TRAP answer: when it is the jail, its exit is reported as SIGSYS's, as the kernel's kill would be. */
  readonly sigkilled: boolean;
  /** Go module confinement decided this call (refused, or let through with a stack it could not walk). */
  readonly go?: GoEventInfo;
}

export interface NotifyReport {
  readonly t: 'report';
  readonly jail: number;
  readonly stats: StatsData;
  /** learn: every call by name, with its count. */
  readonly calls: Array<[string, number]>;
  /** Violations past the log limit. */
  readonly unlogged: number;
  /** A listener of this jail arrived (its filter was installed). */
  readonly traced: boolean;
}

/** Without tracing: a listener whose processes are all gone, and the notifications it answered unlogged. */
export interface NotifyGone {
  readonly t: 'gone';
  readonly jail: number;
  readonly ppid: number;
  readonly unlogged: number;
}

export type FromWorker = NotifyEvent | NotifyReport | NotifyGone | { readonly t: 'error'; readonly message: string };

export type ToWorker = { readonly t: 'ack'; readonly key: number } | { readonly t: 'finish'; readonly jail: number } | { readonly t: 'stop' };
