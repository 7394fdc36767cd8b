/* SPDX-License-Identifier: MIT */
/* dns-01 over RFC 2136 with TSIG, and the wait for the record on the zone's authoritative servers. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme-dns01.h"
#include "dns-client.h"
#include "string-util.h"
#include "time-util.h"

#define POLL_FIRST_MS 250U
#define POLL_MAX_MS 2000U

static usec_t query_deadline(const AcmeDns01Config *c, usec_t limit) {
        int64_t sec = c->query_timeout_sec > 0 ? c->query_timeout_sec : 5;
        usec_t d = now_usec(CLOCK_MONOTONIC) + (usec_t) sec * USEC_PER_SEC;

        return MIN(d, limit);
}

static int server_of(const char *text, uint16_t default_port, const char *what, DnsServer *ret, char **reterr) {
        if (dns_server_parse(text, default_port, ret) < 0)
                return errorf(reterr, -EINVAL, "The %s '%s' is not ADDRESS or ADDRESS:PORT (a numeric IPv4 or IPv6 "
                              "address; [IPv6]:PORT with a port).", what, text);
        return 0;
}

static int resolver_of(const AcmeDns01Config *c, DnsServer *ret, char **reterr) {
        const char *path = c->resolv_conf ?: ACME_DNS01_RESOLV_CONF;
        int r;

        if (c->resolver)
                return server_of(c->resolver, 53, "DNS resolver", ret, reterr);
        r = dns_server_from_resolv_conf(path, ret);
        if (r < 0)
                return errorf(reterr, r, "No DNS resolver to find the zone's name servers with: '%s' %s. Give one with "
                              "--dns01-resolver ADDRESS:PORT.", path,
                              r == -ENOENT ? "lists no numeric nameserver" : strerror(-r));
        return 0;
}

int acme_dns01_config_check(const AcmeDns01Config *c, char **reterr) {
        DnsServer s;
        int r;

        if (c->rfc2136_server) {
                r = server_of(c->rfc2136_server, 53, "RFC 2136 server", &s, reterr);
                if (r < 0)
                        return r;
        }
        if (c->resolver) {
                r = server_of(c->resolver, 53, "DNS resolver", &s, reterr);
                if (r < 0)
                        return r;
        }
        if (c->zone) {
                uint8_t wire[DNS_NAME_WIRE_MAX];
                size_t len;
                if (dns_name_to_wire(c->zone, wire, &len) < 0 || streq(c->zone, "."))
                        return errorf(reterr, -EINVAL, "The dns-01 zone '%s' is not a DNS name.", c->zone);
        }
        if (c->tsig_key_path) {
                DnsTsigKey k;
                r = dns_tsig_key_load(c->tsig_key_path, &k, reterr);
                dns_tsig_key_done(&k);
                if (r < 0)
                        return r;
        }
        return 0;
}

int acme_dns01_txt_name(const char *identifier, char **ret) {
        const char *name = startswith(identifier, "*.") ? identifier + 2 : identifier;
        char *s = strjoin("_acme-challenge.", name, endswith(name, ".") ? "" : ".");

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* The zone of txt_name: the configured one, or the one server s names. */
static int zone_of(const AcmeDns01Config *c, const DnsServer *s, const char *txt_name, usec_t deadline, char **ret,
                   char **reterr) {
        if (c->zone) {
                *ret = strdup(c->zone);
                return *ret ? 0 : -ENOMEM;
        }
        return dns_find_zone(s, txt_name, deadline, ret, reterr);
}

int acme_dns01_txt_target(const AcmeDns01Config *c, const char *identifier, char **ret, char **reterr) {
        _cleanup_free_ char *txt_name = NULL;
        DnsServer resolver;
        int r;

        r = acme_dns01_txt_name(identifier, &txt_name);
        if (r < 0)
                return r;
        /* A hook without the propagation check: certkeeper asks no DNS server at all. */
        if (!c->rfc2136_server && c->propagation_timeout_sec == 0) {
                *ret = TAKE_PTR(txt_name);
                return 0;
        }
        r = resolver_of(c, &resolver, reterr);
        if (r < 0)
                return r;
        return dns_follow_cname(&resolver, txt_name, query_deadline(c, USEC_INFINITY), ret, reterr);
}

int acme_dns01_update(const AcmeDns01Config *c, const char *txt_name, const char *value, bool add, char **reterr) {
        _cleanup_free_ char *zone = NULL;
        usec_t limit = USEC_INFINITY;
        DnsTsigKey key = {};
        DnsServer s;
        int r;

        if (!c->rfc2136_server)
                return -EINVAL;
        r = server_of(c->rfc2136_server, 53, "RFC 2136 server", &s, reterr);
        if (r < 0)
                return r;
        r = zone_of(c, &s, txt_name, query_deadline(c, limit), &zone, reterr);
        if (r < 0)
                return r;
        if (c->tsig_key_path) {
                r = dns_tsig_key_load(c->tsig_key_path, &key, reterr);
                if (r < 0) {
                        dns_tsig_key_done(&key);
                        return r;
                }
        }
        r = dns_update_txt(&s, c->tsig_key_path ? &key : NULL, zone, txt_name, value, add, ACME_DNS01_TTL,
                           query_deadline(c, limit), reterr);
        dns_tsig_key_done(&key);
        return r;
}

static int wait_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

int acme_dns01_wait(const AcmeDns01Config *c, const char *txt_name, const char *value, char **reterr) {
        _cleanup_free_ char *zone = NULL, *lag_words = NULL;
        _cleanup_free_ DnsServer *ns = NULL;
        _cleanup_strv_free_ char **ns_names = NULL;
        DnsServer resolver, primary, servers[DNS_ZONE_SERVERS_MAX + 1];
        const char *labels[DNS_ZONE_SERVERS_MAX + 1];
        bool done[DNS_ZONE_SERVERS_MAX + 1] = {};
        int64_t timeout = c->propagation_timeout_sec < 0 ? ACME_DNS01_PROPAGATION_TIMEOUT_DEFAULT
                                                          : c->propagation_timeout_sec;
        usec_t deadline;
        size_t n = 0, n_ns = 0, lagging = SIZE_MAX;
        unsigned interval = POLL_FIRST_MS;
        int r;

        if (timeout == 0)
                return 0;
        deadline = now_usec(CLOCK_MONOTONIC) + (usec_t) timeout * USEC_PER_SEC;
        r = resolver_of(c, &resolver, reterr);
        if (r < 0)
                return r;
        if (c->rfc2136_server) {
                r = server_of(c->rfc2136_server, 53, "RFC 2136 server", &primary, reterr);
                if (r < 0)
                        return r;
                servers[n] = primary;
                labels[n++] = "the RFC 2136 server";
        }
        /* The zone as the update server knows it, or as the resolver finds it for a hook. */
        r = zone_of(c, c->rfc2136_server ? &primary : &resolver, txt_name, query_deadline(c, deadline), &zone, reterr);
        if (r < 0)
                return r;
        r = dns_zone_servers(&resolver, zone, c->ns_port ?: 53, query_deadline(c, deadline), &ns, &ns_names, &n_ns,
                             reterr);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_ns; i++) {
                bool dup = false;
                for (size_t j = 0; j < n; j++)
                        dup = dup || streq(servers[j].text, ns[i].text);
                if (dup)
                        continue;
                servers[n] = ns[i];
                labels[n++] = ns_names[i];
        }

        for (;;) {
                size_t left = 0;

                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *seen = NULL, *err = NULL;

                        if (done[i])
                                continue;
                        r = dns_txt_present(&servers[i], txt_name, value, query_deadline(c, deadline), &seen, &err);
                        if (r == -ENOMEM)
                                return r;
                        if (r > 0) {
                                done[i] = true;
                                continue;
                        }
                        left++;
                        if (lagging == SIZE_MAX || lagging == i) {
                                lagging = i;
                                free(lag_words);
                                lag_words = r < 0 ? TAKE_PTR(err) : TAKE_PTR(seen);
                        }
                }
                if (left == 0)
                        return 0;
                if (now_usec(CLOCK_MONOTONIC) + (usec_t) interval * USEC_PER_MSEC >= deadline)
                        break;
                r = wait_ms(interval);
                if (r < 0)
                        return r;
                interval = MIN(interval * 2, POLL_MAX_MS);
                if (done[lagging])
                        lagging = SIZE_MAX;
        }
        return errorf(reterr, -ETIMEDOUT, "The TXT record %s of zone %s is not on the authoritative server %s (%s) "
                      "after %" PRIi64 " s: it answers %s. Check that the server gets the zone's updates, or raise "
                      "--dns01-propagation-timeout.", txt_name, zone, servers[lagging].text, labels[lagging], timeout,
                      strna(lag_words));
}
