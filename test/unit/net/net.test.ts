/** The pure networking parts: addresses, traffic rules to nftables, pasta's command line, validation. */
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { ipv4Broadcast, ipv6Bytes, macBytes, netmaskPrefix, parseCidr } from '../../../src/net/addr.js';
import { pastaArgs, userNetErrors } from '../../../src/net/pasta.js';
import { parseTrafficRuleFlag, renderNftRuleset, trafficRuleErrors } from '../../../src/net/traffic.js';
import { defaultPasta, defaultUserNet, type TrafficRule } from '../../../src/spec.js';
import { validateSpec } from '../../../src/validate.js';

const rule = (r: Partial<TrafficRule>): TrafficRule => ({ proto: 'UNKNOWN_PROTO', action: 'DROP', ip_family: 'IPV4', ...r });

describe('addresses', () => {
  it('parses CIDR prefixes of both families and refuses junk', () => {
    expect(parseCidr('192.0.2.0/24')).toMatchObject({ family: 4, prefix: 24 });
    expect(parseCidr('fd00::1')).toMatchObject({ family: 6, prefix: 128, text: 'fd00::1' });
    for (const bad of ['10.0.0.300/8', '10.0.0.0/33', 'fd00::/129', 'x', '10.0.0.0/', '10.0.0.0/8/8']) expect(parseCidr(bad), bad).toBeUndefined();
  });

  it('expands IPv6 text to bytes', () => {
    expect([...ipv6Bytes('fd00::2')!]).toEqual([0xfd, 0, ...Array(13).fill(0), 2]);
    expect([...ipv6Bytes('::ffff:192.0.2.1')!].slice(10)).toEqual([0xff, 0xff, 192, 0, 2, 1]);
  });

  it('turns netmasks into prefix lengths, only contiguous ones', () => {
    expect(netmaskPrefix('255.255.255.0')).toBe(24);
    expect(netmaskPrefix('255.255.255.255')).toBe(32);
    expect(netmaskPrefix('0.0.0.0')).toBe(0);
    expect(netmaskPrefix('255.255.254.0')).toBe(23);
    expect(netmaskPrefix('255.0.255.0')).toBeUndefined();
    expect(netmaskPrefix('24')).toBeUndefined();
  });

  it('reads MAC addresses and computes the broadcast address', () => {
    expect([...macBytes('ba:ad:ba:be:45:00')!]).toEqual([0xba, 0xad, 0xba, 0xbe, 0x45, 0]);
    expect(macBytes('ba:ad:ba:be:45')).toBeUndefined();
    expect([...ipv4Broadcast(Uint8Array.from([192, 0, 2, 77]), 24)]).toEqual([192, 0, 2, 255]);
  });
});

describe('traffic rules', () => {
  it('render in the order given, first match wins, with nsjail-like reach (lo exempt, iif only when forwarded)', () => {
    const text = renderNftRuleset([
      rule({ proto: 'TCP', dport: 443, action: 'REJECT' }),
      rule({ ip_family: 'IPV6', proto: 'UDP', dport: 53, action: 'DROP' }),
      rule({ proto: 'TCP', dport: 80, dport_end: 85, action: 'ALLOW' }),
      rule({ src_ip: '10.255.255.2', dst_ip: '192.0.2.7/24', iif: 'eth1', oif: 'eth0', action: 'REJECT' }),
    ]);
    expect(text).toBe(
      [
        'table inet tsjail {',
        '  chain output {',
        '    type filter hook output priority -150; policy accept;',
        '    oifname "lo" accept',
        '    meta nfproto ipv4 meta l4proto tcp th dport 443 reject with tcp reset',
        '    meta nfproto ipv6 meta l4proto udp th dport 53 drop',
        '    meta nfproto ipv4 meta l4proto tcp th dport 80-85 accept',
        '  }',
        '  chain forward {',
        '    type filter hook forward priority filter; policy accept;',
        '    meta nfproto ipv4 meta l4proto tcp th dport 443 reject with tcp reset',
        '    meta nfproto ipv6 meta l4proto udp th dport 53 drop',
        '    meta nfproto ipv4 meta l4proto tcp th dport 80-85 accept',
        '    meta nfproto ipv4 ip saddr 10.255.255.2 ip daddr 192.0.2.0/24 iifname "eth1" oifname "eth0" meta l4proto tcp reject with tcp reset',
        '    meta nfproto ipv4 ip saddr 10.255.255.2 ip daddr 192.0.2.0/24 iifname "eth1" oifname "eth0" reject',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('masks host bits of IPv6 prefixes and needs a transport protocol for ports', () => {
    const text = renderNftRuleset([rule({ ip_family: 'IPV6', dst_ip: 'fd00::5/64', sport: 1000, sport_end: 2000 })]);
    expect(text).toContain('meta nfproto ipv6 ip6 daddr fd00:0:0:0:0:0:0:0/64 meta l4proto { tcp, udp, udplite, sctp, dccp } th sport 1000-2000 drop');
  });

  it('name the field and value of each problem', () => {
    const errors = [
      ...trafficRuleErrors(rule({ dst_ip: '10.0.0.300/8' }), 'r[0]'),
      ...trafficRuleErrors(rule({ ip_family: 'IPV6', src_ip: '10.0.0.0/8' }), 'r[1]'),
      ...trafficRuleErrors(rule({ proto: 'TCP', dport: 90, dport_end: 80 }), 'r[2]'),
      ...trafficRuleErrors(rule({ proto: 'ICMP', dport: 1 }), 'r[3]'),
      ...trafficRuleErrors(rule({ sport_end: 5, oif: 'a/b', sport: undefined }), 'r[4]'),
      ...trafficRuleErrors(rule({ dport: 70000, action: 'UNKNOWN_ACTION' }), 'r[5]'),
    ];
    expect(errors).toEqual([
      "r[0].dst_ip '10.0.0.300/8' is not an IP address or CIDR prefix",
      "r[1].src_ip '10.0.0.0/8' is IPv4 but ip_family is IPV6",
      'r[2].dport..dport_end 90-80 is an inverted port range',
      'r[3].dport is set, but ICMP has no ports',
      "r[4].oif 'a/b' is not an interface name",
      'r[4].sport_end 5 without sport',
      'r[5].dport 70000 is not a port (0-65535)',
      'r[5].action UNKNOWN_ACTION is not an action (DROP, REJECT or ALLOW)',
    ]);
  });

  it('have a command-line form of key=value pairs', () => {
    expect(parseTrafficRuleFlag('proto=tcp,dport=80-85,action=reject')).toEqual(rule({ proto: 'TCP', dport: 80, dport_end: 85, action: 'REJECT' }));
    expect(parseTrafficRuleFlag('ip_family=ipv6, dst_ip=fd00::/64, action=allow')).toEqual(rule({ ip_family: 'IPV6', dst_ip: 'fd00::/64', action: 'ALLOW' }));
    expect(() => parseTrafficRuleFlag('port=80')).toThrow("--traffic_rule: unknown key 'port'");
    expect(() => parseTrafficRuleFlag('proto=sctp')).toThrow("--traffic_rule: proto 'sctp' is not one of");
    expect(() => parseTrafficRuleFlag('dport=8x')).toThrow("--traffic_rule: dport '8x' is not a port number");
  });
});

describe('pasta', () => {
  const withPasta = (p: Partial<ReturnType<typeof defaultPasta>>, u: Partial<ReturnType<typeof defaultUserNet>> = {}) => ({ ...defaultUserNet(), backend: 'PASTA' as const, pasta: { ...defaultPasta(), ...p }, ...u });

  it("gets nsjail's command line (tests/pasta-nat.cfg, tests/pasta-port-mappings.cfg)", () => {
    expect(pastaArgs(withPasta({ nat: true })).join(' ')).toBe(
      '-f -q --no-dhcp --no-dhcpv6 --no-ra --config-net -a 10.255.255.2 -n 255.255.255.0 -g 10.255.255.1 -a fc00::2 -g fc00::1 -I eth0 -t none -u none -T none -U none',
    );
    expect(pastaArgs(withPasta({ tcp_map_in: '8888', udp_map_in: '8888', tcp_map_out: '2222:22', udp_map_out: '53:5353' })).join(' ')).toMatch(/-I eth0 -t 8888 -u 8888 -T 2222:22 -U 53:5353$/);
    expect(pastaArgs(withPasta({ nat: false, tcp_map_in: '8080' })).join(' ')).toBe('-f -q -t 8080 -u none -T none -U none --splice-only');
  });

  it('turns every option into its pasta switch', () => {
    const args = pastaArgs(
      withPasta(
        { enable_tcp: false, enable_udp: false, enable_icmp: false, ip6_enabled: false, enable_ip4_dhcp: true, enable_dns: true, dns_forward: '10.0.2.3', map_gw: false, mask4: '255.0.0.0', tcp_map_in: '8080:80' },
        { ip4: '10.0.2.15', gw4: '10.0.2.2', ip6: '', ns_iface: 'tap1' },
      ),
    );
    expect(args.join(' ')).toBe('-f -q --no-dhcpv6 --no-ra --dhcp-dns --dns-forward 10.0.2.3 --no-tcp --no-udp --no-icmp --no-map-gw -a 10.0.2.15 -n 255.0.0.0 -g 10.0.2.2 -4 -I tap1 -t 8080:80 -u none -T none -U none');
  });

  it('refuses malformed values by field', () => {
    expect(userNetErrors(withPasta({ ip4_enabled: false, ip6_enabled: false, mask6: '48', tcp_map_in: '80;rm' }, { ip4: '10.0.0', ns_iface: 'a b' }))).toEqual([
      "user_net.ip4 '10.0.0' is not an IPv4 address",
      "user_net.ns_iface 'a b' is not an interface name",
      "user_net.pasta.mask6 '48': pasta gives the namespace a /64 and takes no IPv6 prefix length (as nsjail, only 64 is meaningful)",
      'user_net.pasta: ip4_enabled and ip6_enabled are both false (Both IPv4 and IPv6 disabled for user networking)',
      "user_net.pasta.tcp_map_in '80;rm' is not a pasta port specification (none, auto, or e.g. 8080, 22:2222, 1000-1010)",
    ]);
  });
});

describe('validation of the networking options', () => {
  const problems = async (args: string[]) => validateSpec((await parseCommandLine([...args, '--', '/bin/true'])).spec);

  it('names field and value', async () => {
    expect(await problems(['-I', 'eth0', '--macvlan_vs_ip', '1.2.3', '--macvlan_vs_nm', '255.0.255.0', '--macvlan_vs_mo', 'foo'])).toEqual([
      "macvlan_vs_ip '1.2.3' is not an IPv4 address",
      "macvlan_vs_nm '255.0.255.0' is not an IPv4 netmask",
      "macvlan_vs_mo 'foo': macvlan mode can only be one of the values: 'private'/'vepa'/'bridge'/'passthru'",
    ]);
    expect(await problems(['-I', 'eth0', '--macvlan_vs_ip', '10.0.0.5', '--macvlan_vs_gw', '10.0.1.1'])).toEqual([
      "macvlan_vs_gw '10.0.1.1' is outside 10.0.0.5/24 (macvlan_vs_ip/macvlan_vs_nm): no route could reach it",
    ]);
    expect(await problems(['-I', 'eth0', '--macvlan_vs_ip', '10.0.0.5', '--macvlan_vs_gw', '0.0.0.0'])).toEqual([]);
    expect(await problems(['--traffic_rule', 'proto=tcp,dport=90-80'])).toEqual(['traffic_rule[0].dport..dport_end 90-80 is an inverted port range']);
  });

  it('refuses combinations that cannot work', async () => {
    expect(await problems(['--user_net', '-N'])).toEqual(['user_net: Support for User-Mode Networking requested but CLONE_NEWNET is not enabled']);
    expect(await problems(['--netns', '/run/netns/x', '--iface_own', 'x0'])).toContain("iface_own sets up a new network namespace, but --netns '/run/netns/x' joins an existing one");
    expect(await problems(['--netns', 'x'])).toContain("netns 'x' is not an absolute path (e.g. /run/netns/NAME or /proc/PID/ns/net)");
    expect(await problems(['-Me', '--traffic_rule', 'action=drop'])).toContain('traffic_rule needs a supervising tsjail: -Me replaces tsjail with the program (use -Mo)');
  });
});
