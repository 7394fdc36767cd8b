/* SPDX-License-Identifier: MIT */
/* A blocking DNS client: UDP with TCP fallback, deadlines, answers matched and parsed. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "dns-client.h"
#include "dns-cname.h"
#include "fs-util.h"
#include "parse-util.h"
#include "string-util.h"

#define RESOLV_CONF_MAX (64 * 1024)
#define UDP_ANSWER_MAX 4096U

static void server_text(DnsServer *s) {
        char a[INET6_ADDRSTRLEN] = "?";

        if (s->address.ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) &s->address;
                (void) inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
                (void) snprintf(s->text, sizeof(s->text), "%s:%u", a, ntohs(in->sin_port));
        } else {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &s->address;
                (void) inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
                (void) snprintf(s->text, sizeof(s->text), "[%s]:%u", a, ntohs(in6->sin6_port));
        }
}

static int server_set(const char *addr, uint16_t port, DnsServer *ret) {
        DnsServer s = {};
        struct sockaddr_in *in = (struct sockaddr_in *) &s.address;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &s.address;

        if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                s.address_len = sizeof(*in);
        } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
                s.address_len = sizeof(*in6);
        } else
                return -EINVAL;
        server_text(&s);
        *ret = s;
        return 0;
}

int dns_server_parse(const char *s, uint16_t default_port, DnsServer *ret) {
        char addr[INET6_ADDRSTRLEN + 1];
        const char *colon, *port_text = NULL;
        unsigned port = default_port;
        size_t l;

        if (isempty(s))
                return -EINVAL;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || (close[1] != '\0' && close[1] != ':'))
                        return -EINVAL;
                l = (size_t) (close - s - 1);
                if (l >= sizeof(addr))
                        return -EINVAL;
                memcpy(addr, s + 1, l);
                addr[l] = '\0';
                port_text = close[1] == ':' ? close + 2 : NULL;
        } else {
                colon = strchr(s, ':');
                if (colon && strchr(colon + 1, ':'))
                        colon = NULL; /* a bare IPv6 address */
                l = colon ? (size_t) (colon - s) : strlen(s);
                if (l >= sizeof(addr))
                        return -EINVAL;
                memcpy(addr, s, l);
                addr[l] = '\0';
                port_text = colon ? colon + 1 : NULL;
        }
        if (port_text && (safe_atou(port_text, &port) < 0 || port == 0 || port > 65535))
                return -EINVAL;
        return server_set(addr, (uint16_t) port, ret);
}

int dns_server_from_resolv_conf(const char *path, DnsServer *ret) {
        _cleanup_free_ char *text = NULL;
        char *line, *save = NULL;
        int r;

        r = fs_read_file(path, RESOLV_CONF_MAX, &text, NULL);
        if (r < 0)
                return r;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *p = line + strspn(line, " \t"), *e;
                if (!startswith(p, "nameserver") || !strchr(" \t", p[10]))
                        continue;
                p += 10;
                p += strspn(p, " \t");
                e = p + strcspn(p, " \t#;%");
                *e = '\0';
                if (server_set(p, 53, ret) >= 0)
                        return 0;
        }
        return -ENOENT;
}

/* Milliseconds until deadline, at least 1 while it has not passed, 0 after. */
static int remaining_ms(usec_t deadline) {
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (now >= deadline)
                return 0;
        return (int) MIN((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT32_MAX);
}

static int wait_fd(int fd, short events, usec_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int ms = remaining_ms(deadline), k;

                if (ms == 0)
                        return -ETIMEDOUT;
                k = poll(&p, 1, ms);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k > 0)
                        return 0;
        }
}

static bool answer_matches(const DnsMessage *m, const uint8_t *request) {
        return m->id == ((request[0] << 8) | request[1]) && (m->flags & DNS_FLAG_QR);
}

static int exchange_udp(const DnsServer *s, const DnsPacket *request, usec_t deadline, DnsMessage **ret) {
        _cleanup_close_ int fd = -EBADF;
        uint8_t buf[UDP_ANSWER_MAX];
        usec_t resend_at = 0, resend_interval = USEC_PER_SEC;

        fd = socket(s->address.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* connect(): only the server's answers come through, and ICMP errors are reported */
        if (connect(fd, (const struct sockaddr *) &s->address, s->address_len) < 0)
                return -errno;
        for (;;) {
                _cleanup_(dns_message_freep) DnsMessage *m = NULL;
                ssize_t n;
                int r;

                if (resend_at <= now_usec(CLOCK_MONOTONIC)) {
                        /* Sent again after 1 s, 2 s, 4 s ... without an answer: a datagram may be lost.
                         * An UPDATE that adds or deletes one record may safely arrive twice. */
                        if (send(fd, request->data, request->len, 0) < 0)
                                return -errno;
                        resend_at = now_usec(CLOCK_MONOTONIC) + resend_interval;
                        resend_interval *= 2;
                }
                r = wait_fd(fd, POLLIN, MIN(deadline, resend_at));
                if (r == -ETIMEDOUT && now_usec(CLOCK_MONOTONIC) < deadline)
                        continue;
                if (r < 0)
                        return r;
                n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n < 0)
                        return -errno;
                r = dns_message_parse(buf, (size_t) n, &m);
                if (r < 0 && (size_t) n >= 2 && memcmp(buf, request->data, 2) == 0)
                        return r; /* the answer (same id), malformed */
                if (r < 0 || !answer_matches(m, request->data))
                        continue; /* not ours: a late answer to an earlier question, or noise */
                *ret = TAKE_PTR(m);
                return 0;
        }
}

static int io_all(int fd, uint8_t *buf, size_t len, bool writing, usec_t deadline) {
        size_t done = 0;

        while (done < len) {
                ssize_t n;
                int r = wait_fd(fd, writing ? POLLOUT : POLLIN, deadline);
                if (r < 0)
                        return r;
                n = writing ? send(fd, buf + done, len - done, MSG_NOSIGNAL) : recv(fd, buf + done, len - done, 0);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ECONNRESET;
                done += (size_t) n;
        }
        return 0;
}

static int exchange_tcp(const DnsServer *s, const DnsPacket *request, usec_t deadline, DnsMessage **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *out = NULL, *in = NULL;
        uint8_t len[2];
        size_t n;
        int r;

        fd = socket(s->address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) &s->address, s->address_len) < 0 && errno != EINPROGRESS)
                return -errno;
        r = wait_fd(fd, POLLOUT, deadline);
        if (r < 0)
                return r;
        {
                int err = 0;
                socklen_t sl = sizeof(err);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
                        return -errno;
                if (err != 0)
                        return -err;
        }
        out = malloc(request->len + 2);
        if (!out)
                return -ENOMEM;
        out[0] = (uint8_t) (request->len >> 8);
        out[1] = (uint8_t) request->len;
        memcpy(out + 2, request->data, request->len);
        r = io_all(fd, out, request->len + 2, true, deadline);
        if (r < 0)
                return r;
        for (;;) {
                _cleanup_(dns_message_freep) DnsMessage *m = NULL;

                r = io_all(fd, len, sizeof(len), false, deadline);
                if (r < 0)
                        return r;
                n = (size_t) ((len[0] << 8) | len[1]);
                in = mfree(in);
                in = malloc(MAX(n, (size_t) 1));
                if (!in)
                        return -ENOMEM;
                r = io_all(fd, in, n, false, deadline);
                if (r < 0)
                        return r;
                r = dns_message_parse(in, n, &m);
                if (r < 0)
                        return r;
                if (!answer_matches(m, request->data))
                        continue;
                *ret = TAKE_PTR(m);
                return 0;
        }
}

static const char *errno_words(int r) {
        switch (r) {
        case -ETIMEDOUT:
                return "no answer in time";
        case -ECONNREFUSED:
                return "connection refused (no DNS server on that port)";
        case -EBADMSG:
                return "a malformed answer";
        case -E2BIG:
                return "an answer with too many records";
        default:
                return strerror(-r);
        }
}

int dns_exchange(const DnsServer *s, const DnsPacket *request, usec_t deadline, DnsMessage **ret, char **reterr) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        int r;

        r = exchange_udp(s, request, deadline, &m);
        if (r >= 0 && (m->flags & DNS_FLAG_TC)) {
                m = dns_message_free(m);
                r = exchange_tcp(s, request, deadline, &m);
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return errorf(reterr, r, "DNS server %s: %s", s->text, errno_words(r));
        *ret = TAKE_PTR(m);
        return 0;
}

static uint16_t new_id(void) {
        uint16_t id = 0;

        if (getrandom(&id, sizeof(id), 0) != (ssize_t) sizeof(id))
                id = (uint16_t) (now_usec(CLOCK_MONOTONIC) ^ (usec_t) getpid());
        return id;
}

int dns_query(const DnsServer *s, const char *name, uint16_t type, usec_t deadline, DnsMessage **ret, char **reterr) {
        _cleanup_(dns_packet_freep) DnsPacket *q = NULL;
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        int r;

        r = dns_message_new_query(new_id(), name, type, true, &q);
        if (r == -EINVAL)
                return errorf(reterr, r, "'%.255s' is not a DNS name", name);
        if (r < 0)
                return r;
        r = dns_exchange(s, q, deadline, &m, reterr);
        if (r < 0)
                return r;
        if (!m->has_question || m->qtype != type || !dns_name_equal(m->qname, name))
                return errorf(reterr, -EBADMSG, "DNS server %s answered another question than %s", s->text, name);
        *ret = TAKE_PTR(m);
        return 0;
}

int dns_follow_cname(const DnsServer *s, const char *name, usec_t deadline, char **ret, char **reterr) {
        _cleanup_(dns_cname_chain_done) DnsCnameChain chain = {};
        int r;

        r = dns_cname_chain_init(&chain, name);
        if (r == -EINVAL)
                return errorf(reterr, r, "'%.255s' is not a DNS name", name);
        if (r < 0)
                return r;
        /* Each round adds a link or ends: at most DNS_CNAME_LINKS_MAX + 1 questions. */
        for (;;) {
                _cleanup_(dns_message_freep) DnsMessage *m = NULL;
                const char *end = dns_cname_chain_end(&chain);

                r = dns_query(s, end, DNS_TYPE_TXT, deadline, &m, reterr);
                if (r < 0)
                        return r;
                if (m->rcode != DNS_RCODE_NOERROR && m->rcode != DNS_RCODE_NXDOMAIN)
                        return errorf(reterr,
                                      m->rcode == DNS_RCODE_SERVFAIL ? -EAGAIN
                                      : m->rcode == DNS_RCODE_REFUSED ? -EPERM
                                                                      : -EPROTO,
                                      "DNS resolver %s answered %s to the TXT query for %s%s", s->text,
                                      strna(dns_rcode_to_string(m->rcode)), end,
                                      m->rcode == DNS_RCODE_REFUSED ? ": it does not resolve that name for us" : "");
                r = dns_cname_chain_extend(&chain, m);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        _cleanup_free_ char *words = dns_cname_chain_to_string(&chain);
                        char why[64];

                        if (!words)
                                return -ENOMEM;
                        if (r == -EBADMSG)
                                (void) snprintf(why, sizeof(why), "ends in a name no TXT record can be put at");
                        else if (chain.n_names - 1 > DNS_CNAME_LINKS_MAX)
                                (void) snprintf(why, sizeof(why), "is longer than %u links", DNS_CNAME_LINKS_MAX);
                        else
                                (void) snprintf(why, sizeof(why), "is a loop");
                        return errorf(reterr, r, "The CNAME chain %s (as DNS resolver %s answers it) %s", words,
                                      s->text, why);
                }
                if (r == 0)
                        break;
        }
        *ret = strdup(dns_cname_chain_end(&chain));
        return *ret ? 0 : -ENOMEM;
}

static bool name_in_zone(const char *name, const char *zone) {
        size_t ln = strlen(name), lz = strlen(zone);

        if (ln > 1 && name[ln - 1] == '.')
                ln--;
        if (lz > 1 && zone[lz - 1] == '.')
                lz--;
        if (streq(zone, "."))
                return true;
        if (ln < lz || strncasecmp(name + ln - lz, zone, lz) != 0)
                return false;
        return ln == lz || name[ln - lz - 1] == '.';
}

static char *name_absolute(const char *name) {
        return endswith(name, ".") ? strdup(name) : strjoin(name, ".");
}

int dns_find_zone(const DnsServer *s, const char *name, usec_t deadline, char **ret_zone, char **reterr) {
        _cleanup_free_ char *abs = name_absolute(name);

        if (!abs)
                return -ENOMEM;
        for (const char *c = abs; c; c = dns_name_parent(c)) {
                _cleanup_(dns_message_freep) DnsMessage *m = NULL;
                const DnsRecord *rr;
                size_t n;
                int r;

                r = dns_query(s, c, DNS_TYPE_SOA, deadline, &m, reterr);
                if (r < 0)
                        return r;
                if (m->rcode != DNS_RCODE_NOERROR && m->rcode != DNS_RCODE_NXDOMAIN)
                        return errorf(reterr, m->rcode == DNS_RCODE_REFUSED ? -EPERM : -EPROTO,
                                      "DNS server %s answered %s to the SOA query for %s%s", s->text,
                                      strna(dns_rcode_to_string(m->rcode)), c,
                                      m->rcode == DNS_RCODE_REFUSED ? ": it serves no zone that holds the name" : "");
                for (DnsSection sec = DNS_SECTION_ANSWER; sec <= DNS_SECTION_AUTHORITY; sec++) {
                        n = dns_message_section(m, sec, &rr);
                        for (size_t i = 0; i < n; i++)
                                if (rr[i].type == DNS_TYPE_SOA && name_in_zone(abs, rr[i].name)) {
                                        char *z = strdup(rr[i].name);
                                        if (!z)
                                                return -ENOMEM;
                                        *ret_zone = z;
                                        return 0;
                                }
                }
        }
        return errorf(reterr, -ENOENT, "DNS server %s names no zone that holds %s (no SOA record)", s->text, name);
}

static int add_server(DnsServer *list, char **names, size_t *n, const char *address, uint16_t port, const char *ns) {
        DnsServer s;

        if (*n >= DNS_ZONE_SERVERS_MAX || server_set(address, port, &s) < 0)
                return 0;
        for (size_t i = 0; i < *n; i++)
                if (streq(list[i].text, s.text))
                        return 0;
        names[*n] = strdup(ns);
        if (!names[*n])
                return -ENOMEM;
        list[(*n)++] = s;
        return 0;
}

int dns_zone_servers(const DnsServer *resolver, const char *zone, uint16_t port, usec_t deadline, DnsServer **ret,
                     char ***ret_names, size_t *ret_n, char **reterr) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        _cleanup_free_ DnsServer *list = NULL;
        _cleanup_strv_free_ char **names = NULL;
        const DnsRecord *rr, *add;
        size_t n_ns, n_add, n = 0;
        char address[INET6_ADDRSTRLEN];
        int r;

        r = dns_query(resolver, zone, DNS_TYPE_NS, deadline, &m, reterr);
        if (r < 0)
                return r;
        if (m->rcode != DNS_RCODE_NOERROR)
                return errorf(reterr, -ENOENT, "DNS server %s answered %s to the NS query for %s", resolver->text,
                              strna(dns_rcode_to_string(m->rcode)), zone);
        list = calloc(DNS_ZONE_SERVERS_MAX, sizeof(DnsServer));
        names = calloc(DNS_ZONE_SERVERS_MAX + 1, sizeof(char *));
        if (!list || !names)
                return -ENOMEM;
        n_ns = dns_message_section(m, DNS_SECTION_ANSWER, &rr);
        n_add = dns_message_section(m, DNS_SECTION_ADDITIONAL, &add);
        for (size_t i = 0; i < n_ns; i++) {
                char ns[DNS_NAME_TEXT_MAX];
                bool glue = false;

                if (rr[i].type != DNS_TYPE_NS || !dns_name_equal(rr[i].name, zone) ||
                    dns_record_name(m, &rr[i], ns) < 0)
                        continue;
                for (size_t j = 0; j < n_add; j++)
                        if ((add[j].type == DNS_TYPE_A || add[j].type == DNS_TYPE_AAAA) &&
                            dns_name_equal(add[j].name, ns) &&
                            dns_record_address(m, &add[j], address, sizeof(address)) >= 0) {
                                r = add_server(list, names, &n, address, port, ns);
                                if (r < 0)
                                        return r;
                                glue = true;
                        }
                if (glue)
                        continue;
                for (size_t t = 0; t < 2; t++) {
                        _cleanup_(dns_message_freep) DnsMessage *a = NULL;
                        const DnsRecord *ar;
                        size_t n_a;
                        uint16_t type = t == 0 ? DNS_TYPE_A : DNS_TYPE_AAAA;

                        if (dns_query(resolver, ns, type, deadline, &a, NULL) < 0)
                                continue; /* this NS name does not resolve: the others may */
                        n_a = dns_message_section(a, DNS_SECTION_ANSWER, &ar);
                        for (size_t j = 0; j < n_a; j++)
                                if (ar[j].type == type &&
                                    dns_record_address(a, &ar[j], address, sizeof(address)) >= 0) {
                                        r = add_server(list, names, &n, address, port, ns);
                                        if (r < 0)
                                                return r;
                                }
                }
        }
        if (n == 0)
                return errorf(reterr, -ENOENT, "the NS records of %s (asked of %s) name no server with an address",
                              zone, resolver->text);
        *ret = TAKE_PTR(list);
        if (ret_names)
                *ret_names = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

static const char *tsig_error_words(int tsig_error) {
        switch (tsig_error) {
        case DNS_RCODE_BADKEY:
                return ": it does not know this key name and algorithm, or takes no updates with it for this zone";
        case DNS_RCODE_BADSIG:
                return ": the secret does not match";
        case DNS_RCODE_BADTIME:
                return ": the clocks differ too much";
        default:
                return "";
        }
}

static uint64_t unix_now(void) {
        return (uint64_t) time(NULL);
}

int dns_update_txt(const DnsServer *s, const DnsTsigKey *key, const char *zone, const char *name, const char *value,
                   bool add, uint32_t ttl, usec_t deadline, char **reterr) {
        _cleanup_(dns_packet_freep) DnsPacket *u = NULL;
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        uint8_t mac[DNS_TSIG_MAC_MAX];
        size_t mac_len = 0;
        int tsig_error = 0, r, v = 0;
        const char *what = add ? "add" : "delete";

        r = dns_message_new_txt_update(new_id(), zone, name, value, add, ttl, &u);
        if (r == -EINVAL)
                return errorf(reterr, r, "cannot update %s in zone %s: not a DNS name, or a value over 255 characters",
                              name, zone);
        if (r >= 0 && key)
                r = dns_tsig_sign(u, key, unix_now(), NULL, 0, mac, &mac_len);
        if (r < 0)
                return r;
        r = dns_exchange(s, u, deadline, &m, reterr);
        if (r < 0)
                return r;
        if (m->opcode != DNS_OPCODE_UPDATE)
                return errorf(reterr, -EBADMSG, "DNS server %s answered the update with another opcode", s->text);
        if (key)
                v = dns_tsig_verify(m, key, mac, mac_len, unix_now(), &tsig_error);
        if (key && v == -EPERM)
                return errorf(reterr, -EACCES, "DNS server %s refused the TSIG key '%s' (%s%s) for the update of "
                              "zone %s", s->text, key->name, strna(dns_rcode_to_string(tsig_error)),
                              tsig_error_words(tsig_error), zone);
        if (m->rcode == DNS_RCODE_REFUSED || m->rcode == DNS_RCODE_NOTAUTH)
                return errorf(reterr, -EPERM, "DNS server %s answered %s to the update (%s TXT %s) of zone %s: %s",
                              s->text, dns_rcode_to_string(m->rcode), what, name, zone,
                              m->rcode == DNS_RCODE_REFUSED ? "the key may not update this zone, or updates are not "
                                                              "allowed (check the server's ACL or update policy)"
                                                            : "the server is not authoritative (primary) for the zone, "
                                                              "or does not accept the key");
        if (m->rcode != DNS_RCODE_NOERROR)
                return errorf(reterr, -EPROTO, "DNS server %s answered %s to the update (%s TXT %s) of zone %s",
                              s->text, strna(dns_rcode_to_string(m->rcode)), what, name, zone);
        if (key && v < 0)
                return errorf(reterr, -EACCES, "DNS server %s answered the update of zone %s, but its answer %s",
                              s->text, zone, v == -ENOKEY ? "is not signed with the TSIG key"
                                    : v == -ETIME ? "is signed at a time too far from ours"
                                                  : "has a TSIG signature that does not verify");
        return 0;
}

int dns_txt_present(const DnsServer *s, const char *name, const char *value, usec_t deadline, char **ret_seen,
                    char **reterr) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        const DnsRecord *rr;
        size_t n, others = 0;
        int r;

        r = dns_query(s, name, DNS_TYPE_TXT, deadline, &m, reterr);
        if (r < 0)
                return r;
        n = dns_message_section(m, DNS_SECTION_ANSWER, &rr);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *txt = NULL;
                size_t len;

                if (rr[i].type != DNS_TYPE_TXT || !dns_name_equal(rr[i].name, name))
                        continue;
                r = dns_record_txt(m, &rr[i], &txt, &len);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0 && len == strlen(value) && streq(txt, value))
                        return 1;
                others++;
        }
        if (ret_seen) {
                char buf[64];
                if (m->rcode != DNS_RCODE_NOERROR)
                        (void) snprintf(buf, sizeof(buf), "%s", strna(dns_rcode_to_string(m->rcode)));
                else if (others > 0)
                        (void) snprintf(buf, sizeof(buf), "%zu other TXT record%s", others, others == 1 ? "" : "s");
                else
                        (void) snprintf(buf, sizeof(buf), "no TXT record");
                *ret_seen = strdup(buf);
                if (!*ret_seen)
                        return -ENOMEM;
        }
        return 0;
}
