/**
 * Hooks through which a policy layer (e.g. --net_allow) takes part in
 * user-mode networking without knowing how packets and flows are carried.
 * The user_net backend calls them when given; without hooks it follows the
 * NstunRule verdicts alone.
 */
export interface UserNetHooks {
  /** A UDP datagram from the jail to gw4/gw6 (e.g. DNS). Return the reply payload, or null for none. */
  udpToGateway?(pkt: { src: string; sport: number; dport: number; data: Buffer }): Promise<Buffer | null>;
  /**
   * A new TCP flow from the jail, before anything is connected on the host.
   * peek() resolves with up to max bytes the program has sent (fewer when the
   * timeout passes first); the bytes are still delivered afterwards.
   * allow:true may name another destination; allow:false resets the flow.
   */
  tcpFlow?(f: {
    src: string;
    sport: number;
    dst: string;
    dport: number;
    peek(max: number, timeoutMs: number): Promise<Buffer>;
  }): Promise<{ allow: true; dst?: string; dport?: number } | { allow: false; reason: string }>;
  /**
   * The first datagram of a new UDP flow (other than udpToGateway's) or an ICMP echo, before anything is sent
   * on the host; the verdict holds for the flow. ICMP passes sport = dport = 0.
   */
  datagramFlow?(f: { proto: 'udp' | 'icmp'; src: string; sport: number; dst: string; dport: number }): { allow: true } | { allow: false; reason: string };
}

/** Hooks for one jail, made when its user-mode network is set up (pid: the jail's). */
export type UserNetHooksFor = (pid: number) => UserNetHooks;

const provided = new WeakMap<object, UserNetHooksFor>();
/** A feature earlier in the table than user_net hands its hooks for this run (keyed by the Prepared). */
export function provideUserNetHooks(p: object, h: UserNetHooksFor): void {
  provided.set(p, h);
}
export function userNetHooksOf(p: object): UserNetHooksFor | undefined {
  return provided.get(p);
}
