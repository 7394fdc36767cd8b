/* SPDX-License-Identifier: MIT */
/* TSIG (RFC 8945): key files, signing requests, verifying answers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dns-tsig.h"
#include "fs-util.h"
#include "string-util.h"

#define KEY_FILE_MAX (64 * 1024)
#define TOKENS_MAX 256

static const struct {
        const char *short_name; /* as written in key files */
        const char *wire_name;  /* the algorithm name in TSIG records */
        const EVP_MD *(*md)(void);
} algorithms[] = {
        { "hmac-sha256", "hmac-sha256.", EVP_sha256 },
        { "hmac-sha384", "hmac-sha384.", EVP_sha384 },
        { "hmac-sha512", "hmac-sha512.", EVP_sha512 },
        { "hmac-sha224", "hmac-sha224.", EVP_sha224 },
        { "hmac-sha1", "hmac-sha1.", EVP_sha1 },
        { "hmac-md5", "hmac-md5.sig-alg.reg.int.", EVP_md5 },
};

static int algorithm_find(const char *name) {
        size_t l = strlen(name);

        if (l > 0 && name[l - 1] == '.')
                l--;
        for (size_t i = 0; i < ELEMENTSOF(algorithms); i++)
                if ((strlen(algorithms[i].short_name) == l && strncasecmp(name, algorithms[i].short_name, l) == 0) ||
                    dns_name_equal(name, algorithms[i].wire_name))
                        return (int) i;
        return -EINVAL;
}

void dns_tsig_key_done(DnsTsigKey *k) {
        if (k)
                explicit_bzero(k, sizeof(*k));
}

static int base64_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

/* Standard base64 with optional padding. */
static int base64_decode(const char *s, uint8_t *out, size_t out_max, size_t *ret_len) {
        size_t n = 0, bits = 0, pad = 0;
        uint32_t acc = 0;

        for (; *s; s++) {
                int v;
                if (*s == '=') {
                        pad++;
                        continue;
                }
                v = base64_value(*s);
                if (v < 0 || pad > 0)
                        return -EINVAL;
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (n >= out_max)
                                return -E2BIG;
                        out[n++] = (uint8_t) (acc >> bits);
                }
        }
        if (pad > 2 || bits >= 6)
                return -EINVAL;
        *ret_len = n;
        return 0;
}

static char *punctuation(char c) {
        return c == '{' ? (char *) "{" : c == '}' ? (char *) "}" : (char *) ";";
}

/* Splits key file text into tokens: quoted strings, '{', '}', ';', and words. Comments are dropped
 * ('#' always, '//' and C comments where they start a token: base64 holds '/'). */
static int tokenize(char *text, char **tokens, size_t *ret_n) {
        size_t n = 0;
        char *p = text;

        while (*p) {
                char *start;
                char c;

                if (strchr(" \t\r\n", *p)) {
                        p++;
                        continue;
                }
                if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
                        p += strcspn(p, "\n");
                        continue;
                }
                if (p[0] == '/' && p[1] == '*') {
                        char *e = strstr(p + 2, "*/");
                        if (!e)
                                return -EINVAL;
                        p = e + 2;
                        continue;
                }
                if (n + 2 > TOKENS_MAX)
                        return -E2BIG;
                if (*p == '"') {
                        start = ++p;
                        p = strchr(p, '"');
                        if (!p)
                                return -EINVAL;
                        *p++ = '\0';
                        tokens[n++] = start;
                        continue;
                }
                if (strchr("{};", *p)) {
                        tokens[n++] = punctuation(*p);
                        *p++ = '\0';
                        continue;
                }
                /* a word, ended by white space (dropped) or punctuation (a token of its own) */
                start = p;
                p += strcspn(p, " \t\r\n{};\"");
                if (*p == '"')
                        return -EINVAL;
                tokens[n++] = start;
                c = *p;
                if (c == '\0')
                        break;
                *p++ = '\0';
                if (strchr("{};", c))
                        tokens[n++] = punctuation(c);
        }
        *ret_n = n;
        return 0;
}

static int key_set(DnsTsigKey *k, const char *name, const char *algorithm, const char *secret, char **reterr) {
        uint8_t wire[DNS_NAME_WIRE_MAX];
        size_t len, l;
        int a, r;

        if (isempty(name) || isempty(secret))
                return errorf(reterr, -EINVAL, "holds no key: expected key \"NAME\" { algorithm hmac-sha256; secret "
                              "\"BASE64\"; }; or ALGORITHM:NAME:BASE64");
        a = algorithm_find(algorithm ?: "hmac-sha256");
        if (a < 0)
                return errorf(reterr, -EINVAL, "names the algorithm '%.64s', which is not one of hmac-sha256, "
                              "hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1, hmac-md5", algorithm);
        if (dns_name_to_wire(name, wire, &len) < 0 || streq(name, "."))
                return errorf(reterr, -EINVAL, "names the key '%.64s', which is not a DNS name", name);
        r = base64_decode(secret, k->secret, sizeof(k->secret), &k->secret_len);
        if (r < 0 || k->secret_len == 0)
                return errorf(reterr, -EINVAL, "holds a secret that is not base64 (or is empty or over %u bytes)",
                              DNS_TSIG_SECRET_MAX);
        /* lower case, with a final dot */
        l = strlen(name);
        for (size_t i = 0; i < l; i++)
                k->name[i] = (char) ((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
        if (name[l - 1] != '.')
                k->name[l++] = '.';
        k->name[l] = '\0';
        strncpy(k->algorithm, algorithms[a].wire_name, sizeof(k->algorithm) - 1);
        return 0;
}

int dns_tsig_key_parse(const char *text, DnsTsigKey *ret, char **reterr) {
        _cleanup_free_ char *copy = strdup(text);
        char *tokens[TOKENS_MAX];
        const char *name = NULL, *algorithm = NULL, *secret = NULL;
        DnsTsigKey k = {};
        size_t n = 0;
        int r;

        if (!copy)
                return -ENOMEM;
        r = tokenize(copy, tokens, &n);
        if (r < 0) {
                explicit_bzero(copy, strlen(text));
                return errorf(reterr, -EINVAL, "cannot be read as a key file: %s", r == -E2BIG ? "too many words" :
                              "an unterminated quote or comment");
        }

        for (size_t i = 0; i < n; i++) {
                if (!strcasecmp(tokens[i], "key") && i + 2 < n && streq(tokens[i + 2], "{") && !name) {
                        /* BIND: key "NAME" { algorithm ALG; secret "BASE64"; }; */
                        name = tokens[i + 1];
                        for (i += 3; i + 1 < n && !streq(tokens[i], "}"); i++) {
                                if (!strcasecmp(tokens[i], "algorithm"))
                                        algorithm = tokens[++i];
                                else if (!strcasecmp(tokens[i], "secret"))
                                        secret = tokens[++i];
                        }
                        break;
                }
                /* knot YAML: id: NAME, algorithm: ALG, secret: BASE64 */
                if (i + 1 < n && streq(tokens[i], "id:") && !name)
                        name = tokens[++i];
                else if (i + 1 < n && streq(tokens[i], "algorithm:") && !algorithm)
                        algorithm = tokens[++i];
                else if (i + 1 < n && streq(tokens[i], "secret:") && !secret)
                        secret = tokens[++i];
        }
        if (!name && !secret && n == 1) {
                /* [ALGORITHM:]NAME:BASE64 */
                char *a = tokens[0], *b = strchr(a, ':'), *c = b ? strchr(b + 1, ':') : NULL;
                if (b && c) {
                        *b = *c = '\0';
                        algorithm = a;
                        name = b + 1;
                        secret = c + 1;
                } else if (b) {
                        *b = '\0';
                        name = a;
                        secret = b + 1;
                }
        }
        r = key_set(&k, name, algorithm, secret, reterr);
        explicit_bzero(copy, strlen(text));
        if (r < 0) {
                dns_tsig_key_done(&k);
                return r;
        }
        *ret = k;
        dns_tsig_key_done(&k);
        return 0;
}

int dns_tsig_key_load(const char *path, DnsTsigKey *ret, char **reterr) {
        _cleanup_free_ char *text = NULL, *words = NULL;
        size_t len = 0;
        int r;

        r = fs_read_file(path, KEY_FILE_MAX, &text, &len);
        if (r < 0)
                return errorf(reterr, r, "The TSIG key file '%s' cannot be read: %s.", path,
                              r == -E2BIG || r == -EFBIG ? "it is too big for a key file" : strerror(-r));
        r = dns_tsig_key_parse(text, ret, &words);
        explicit_bzero(text, len);
        if (r < 0)
                return errorf(reterr, r, "The TSIG key file '%s' %s.", path, strna(words));
        return 0;
}

/* ---- signing ---- */

static void put_u48(uint8_t *b, uint64_t v) {
        for (size_t i = 0; i < 6; i++)
                b[i] = (uint8_t) (v >> (8 * (5 - i)));
}

/* The TSIG variables (RFC 8945 4.3.3) after the message: key name, class ANY, TTL 0, algorithm,
 * time signed, fudge, error, other len and other data. */
static int variables(DnsPacket *d, const DnsTsigKey *k, uint64_t time_signed, uint16_t fudge, uint16_t error,
                     const uint8_t *other, uint16_t other_len) {
        uint8_t t[6];
        int r;

        put_u48(t, time_signed);
        r = dns_packet_append_name(d, k->name);
        if (r >= 0)
                r = dns_packet_append_u16(d, DNS_CLASS_ANY);
        if (r >= 0)
                r = dns_packet_append_u32(d, 0);
        if (r >= 0)
                r = dns_packet_append_name(d, k->algorithm);
        if (r >= 0)
                r = dns_packet_append(d, t, sizeof(t));
        if (r >= 0)
                r = dns_packet_append_u16(d, fudge);
        if (r >= 0)
                r = dns_packet_append_u16(d, error);
        if (r >= 0)
                r = dns_packet_append_u16(d, other_len);
        if (r >= 0)
                r = dns_packet_append(d, other, other_len);
        return r;
}

static int hmac(const DnsTsigKey *k, const DnsPacket *d, uint8_t *out, size_t *ret_len) {
        unsigned len = 0;
        int a = algorithm_find(k->algorithm);

        if (a < 0)
                return -EINVAL;
        if (!HMAC(algorithms[a].md(), k->secret, (int) k->secret_len, d->data, d->len, out, &len))
                return -EIO;
        *ret_len = len;
        return 0;
}

int dns_tsig_sign(DnsPacket *p, const DnsTsigKey *k, uint64_t now, const uint8_t *request_mac,
                  size_t request_mac_len, uint8_t *ret_mac, size_t *ret_mac_len) {
        DnsPacket d = {};
        uint8_t mac[EVP_MAX_MD_SIZE], t[6];
        size_t mac_len = 0, rdlen_at;
        uint16_t id, arcount;
        int r;

        if (p->len < DNS_HEADER_SIZE)
                return -EINVAL;
        id = (uint16_t) ((p->data[0] << 8) | p->data[1]);
        arcount = (uint16_t) ((p->data[10] << 8) | p->data[11]);
        if (arcount == UINT16_MAX)
                return -E2BIG;

        r = 0;
        if (request_mac) {
                r = dns_packet_append_u16(&d, (uint16_t) request_mac_len);
                if (r >= 0)
                        r = dns_packet_append(&d, request_mac, request_mac_len);
        }
        if (r >= 0)
                r = dns_packet_append(&d, p->data, p->len);
        if (r >= 0)
                r = variables(&d, k, now, DNS_TSIG_FUDGE, 0, NULL, 0);
        if (r >= 0)
                r = hmac(k, &d, mac, &mac_len);
        free(d.data);
        if (r < 0)
                return r;
        if (mac_len > DNS_TSIG_MAC_MAX)
                return -E2BIG;

        /* The TSIG record: owner = key name, TSIG ANY 0, rdata. */
        put_u48(t, now);
        r = dns_packet_append_name(p, k->name);
        if (r >= 0)
                r = dns_packet_append_u16(p, DNS_TYPE_TSIG);
        if (r >= 0)
                r = dns_packet_append_u16(p, DNS_CLASS_ANY);
        if (r >= 0)
                r = dns_packet_append_u32(p, 0);
        rdlen_at = p->len;
        if (r >= 0)
                r = dns_packet_append_u16(p, 0);
        if (r >= 0)
                r = dns_packet_append_name(p, k->algorithm);
        if (r >= 0)
                r = dns_packet_append(p, t, sizeof(t));
        if (r >= 0)
                r = dns_packet_append_u16(p, DNS_TSIG_FUDGE);
        if (r >= 0)
                r = dns_packet_append_u16(p, (uint16_t) mac_len);
        if (r >= 0)
                r = dns_packet_append(p, mac, mac_len);
        if (r >= 0)
                r = dns_packet_append_u16(p, id); /* original id */
        if (r >= 0)
                r = dns_packet_append_u16(p, 0); /* error */
        if (r >= 0)
                r = dns_packet_append_u16(p, 0); /* other len */
        if (r < 0)
                return r;
        p->data[rdlen_at] = (uint8_t) ((p->len - rdlen_at - 2) >> 8);
        p->data[rdlen_at + 1] = (uint8_t) (p->len - rdlen_at - 2);
        arcount++;
        p->data[10] = (uint8_t) (arcount >> 8);
        p->data[11] = (uint8_t) arcount;
        memcpy(ret_mac, mac, mac_len);
        *ret_mac_len = mac_len;
        return 0;
}

/* ---- verification ---- */

static uint16_t rd16(const uint8_t *p) {
        return (uint16_t) ((p[0] << 8) | p[1]);
}

int dns_tsig_verify(const DnsMessage *m, const DnsTsigKey *k, const uint8_t *request_mac, size_t request_mac_len,
                    uint64_t now, int *ret_tsig_error) {
        const DnsRecord *add, *rr;
        char algorithm[DNS_NAME_TEXT_MAX];
        uint8_t mac[EVP_MAX_MD_SIZE], hdr[DNS_HEADER_SIZE];
        size_t n_add, pos, end, mac_len, want_len = 0, other_len;
        uint64_t time_signed = 0;
        uint16_t fudge, orig_id, error, arcount;
        const uint8_t *their_mac, *other;
        DnsPacket d = {};
        int r;

        n_add = dns_message_section(m, DNS_SECTION_ADDITIONAL, &add);
        if (n_add == 0 || add[n_add - 1].type != DNS_TYPE_TSIG)
                return -ENOKEY;
        rr = &add[n_add - 1];
        if (rr->rdata_offset + rr->rdata_len != m->size || rr->class != DNS_CLASS_ANY)
                return -EBADMSG;
        pos = rr->rdata_offset;
        end = rr->rdata_offset + rr->rdata_len;
        r = dns_message_read_name(m, end, &pos, algorithm);
        if (r < 0)
                return -EBADMSG;
        if (end - pos < 10)
                return -EBADMSG;
        for (size_t i = 0; i < 6; i++)
                time_signed = (time_signed << 8) | m->data[pos + i];
        fudge = rd16(m->data + pos + 6);
        mac_len = rd16(m->data + pos + 8);
        pos += 10;
        if (end - pos < mac_len + 6)
                return -EBADMSG;
        their_mac = m->data + pos;
        pos += mac_len;
        orig_id = rd16(m->data + pos);
        error = rd16(m->data + pos + 2);
        other_len = rd16(m->data + pos + 4);
        pos += 6;
        if (end - pos != other_len)
                return -EBADMSG;
        other = m->data + pos;

        if (!dns_name_equal(rr->name, k->name) || !dns_name_equal(algorithm, k->algorithm))
                return -ENOKEY;
        if (ret_tsig_error)
                *ret_tsig_error = error;
        if (error != 0 && mac_len == 0)
                return -EPERM;

        /* request MAC, the message as it was before the TSIG record, the variables */
        memcpy(hdr, m->data, sizeof(hdr));
        hdr[0] = (uint8_t) (orig_id >> 8);
        hdr[1] = (uint8_t) orig_id;
        arcount = (uint16_t) (rd16(m->data + 10) - 1);
        hdr[10] = (uint8_t) (arcount >> 8);
        hdr[11] = (uint8_t) arcount;
        r = dns_packet_append_u16(&d, (uint16_t) request_mac_len);
        if (r >= 0)
                r = dns_packet_append(&d, request_mac, request_mac_len);
        if (r >= 0)
                r = dns_packet_append(&d, hdr, sizeof(hdr));
        if (r >= 0)
                r = dns_packet_append(&d, m->data + sizeof(hdr), rr->offset - sizeof(hdr));
        if (r >= 0)
                r = variables(&d, k, time_signed, fudge, error, other, (uint16_t) other_len);
        if (r >= 0)
                r = hmac(k, &d, mac, &want_len);
        free(d.data);
        if (r < 0)
                return r;
        if (mac_len != want_len || CRYPTO_memcmp(mac, their_mac, mac_len) != 0)
                return -EACCES;
        if (error != 0)
                return -EPERM;
        if (time_signed + fudge < now || now + fudge < time_signed)
                return -ETIME;
        return 0;
}
