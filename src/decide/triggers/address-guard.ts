/**
 * Webhooks must not become a way into the network Kairos runs in (server-side request forgery): an
 * admin key, or whoever holds one, could otherwise point a trigger at a cloud metadata service,
 * a database's HTTP port or anything else listening on loopback or a private network. Unless
 * `KAIROS_WEBHOOK_ALLOW_INTERNAL` is set, a webhook URL naming such an address is refused when the
 * trigger is saved, and every delivery resolves the host through `guardedLookup`, which refuses to
 * connect when any address the name resolves to is internal. The check happens at connect time, on
 * the addresses actually used, so a name that resolves to a public address when saved and to an
 * internal one later (DNS rebinding) is still refused.
 */
import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** not reachable from the public internet: loopback, private, link-local, shared, reserved, multicast */
const INTERNAL = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16],
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) INTERNAL.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback and IPv4-compatible addresses (::a.b.c.d)
  ['::ffff:0:0:0', 96], // IPv4-translated (SIIT)
  ['64:ff9b::', 96], // NAT64: reaches IPv4 addresses through a gateway
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 32], // Teredo: embeds an IPv4 address
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds an IPv4 address
  ['fc00::', 7], // unique local
  ['fec0::', 10], // site-local (deprecated, still routed inside some networks)
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) INTERNAL.addSubnet(network, prefix, 'ipv6');

/** whether an IP address (v4, v6, or v4 mapped into v6) is internal; false for anything not an address */
export function isInternalAddress(address: string): boolean {
  const plain = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(plain);
  if (family === 0) return false;
  // BlockList matches IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) against the IPv4 subnets too
  return INTERNAL.check(plain, family === 6 ? 'ipv6' : 'ipv4');
}

/** why a webhook host may not be used (an internal address, or a name reserved for this machine), or undefined */
export function internalHostProblem(hostname: string): string | undefined {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return `points at this machine (${hostname})`;
  if (isInternalAddress(host)) return `points at an internal address (${hostname})`;
  return undefined;
}

/** the error a refused connection fails with */
export const INTERNAL_ADDRESS_CODE = 'KAIROS_INTERNAL_ADDRESS';

/** `dns.lookup` for outgoing webhook connections: fails when the name resolves to any internal address */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const internal = addresses.find((a) => isInternalAddress(a.address));
    if (internal) {
      // the address stays out of the message: the delivery log would otherwise map internal names to addresses
      const refused = Object.assign(new Error(`${hostname} resolves to an internal address`), { code: INTERNAL_ADDRESS_CODE });
      return callback(refused, '', 0);
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  });
};
