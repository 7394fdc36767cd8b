/* SPDX-License-Identifier: MIT */
/* DNS messages: building queries and RFC 2136 updates, parsing untrusted answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns-message.h"
#include "string-util.h"

const char *dns_rcode_to_string(int rcode) {
        static const char *const names[] = {
                [DNS_RCODE_NOERROR] = "NOERROR",   [DNS_RCODE_FORMERR] = "FORMERR",   [DNS_RCODE_SERVFAIL] = "SERVFAIL",
                [DNS_RCODE_NXDOMAIN] = "NXDOMAIN", [DNS_RCODE_NOTIMP] = "NOTIMP",     [DNS_RCODE_REFUSED] = "REFUSED",
                [DNS_RCODE_YXDOMAIN] = "YXDOMAIN", [DNS_RCODE_YXRRSET] = "YXRRSET",   [DNS_RCODE_NXRRSET] = "NXRRSET",
                [DNS_RCODE_NOTAUTH] = "NOTAUTH",   [DNS_RCODE_NOTZONE] = "NOTZONE",   [DNS_RCODE_BADSIG] = "BADSIG",
                [DNS_RCODE_BADKEY] = "BADKEY",     [DNS_RCODE_BADTIME] = "BADTIME",   [DNS_RCODE_BADTRUNC] = "BADTRUNC",
        };
        if (rcode < 0 || (size_t) rcode >= ELEMENTSOF(names))
                return NULL;
        return names[rcode];
}

DnsPacket *dns_packet_free(DnsPacket *p) {
        if (!p)
                return NULL;
        free(p->data);
        free(p);
        return NULL;
}

int dns_packet_append(DnsPacket *p, const void *data, size_t len) {
        if (len > DNS_MESSAGE_MAX - p->len)
                return -E2BIG;
        if (p->len + len > p->allocated) {
                size_t n = MAX(p->allocated * 2, (size_t) 512);
                while (n < p->len + len)
                        n *= 2;
                n = MIN(n, (size_t) DNS_MESSAGE_MAX);
                uint8_t *d = realloc(p->data, n);
                if (!d)
                        return -ENOMEM;
                p->data = d;
                p->allocated = n;
        }
        if (len > 0)
                memcpy(p->data + p->len, data, len);
        p->len += len;
        return 0;
}

int dns_packet_append_u16(DnsPacket *p, uint16_t v) {
        uint8_t b[2] = { (uint8_t) (v >> 8), (uint8_t) v };
        return dns_packet_append(p, b, sizeof(b));
}

int dns_packet_append_u32(DnsPacket *p, uint32_t v) {
        uint8_t b[4] = { (uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v };
        return dns_packet_append(p, b, sizeof(b));
}

static bool name_char_ok(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '*';
}

int dns_name_to_wire(const char *name, uint8_t *out, size_t *ret_len) {
        size_t n = 0;
        const char *p = name;

        if (!name || isempty(name))
                return -EINVAL;
        if (streq(name, ".")) {
                out[0] = 0;
                *ret_len = 1;
                return 0;
        }
        while (*p) {
                const char *dot = strchr(p, '.');
                size_t l = dot ? (size_t) (dot - p) : strlen(p);

                if (l == 0 || l > 63)
                        return -EINVAL;
                if (n + 1 + l + 1 > DNS_NAME_WIRE_MAX)
                        return -EINVAL;
                out[n++] = (uint8_t) l;
                for (size_t i = 0; i < l; i++) {
                        char c = p[i];
                        if (!name_char_ok(c))
                                return -EINVAL;
                        out[n++] = (uint8_t) ((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
                }
                if (!dot)
                        break;
                p = dot + 1;
        }
        out[n++] = 0;
        *ret_len = n;
        return 0;
}

int dns_packet_append_name(DnsPacket *p, const char *name) {
        uint8_t wire[DNS_NAME_WIRE_MAX];
        size_t len;
        int r;

        r = dns_name_to_wire(name, wire, &len);
        if (r < 0)
                return r;
        return dns_packet_append(p, wire, len);
}

bool dns_name_equal(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);

        if (la > 1 && a[la - 1] == '.')
                la--;
        if (lb > 1 && b[lb - 1] == '.')
                lb--;
        return la == lb && strncasecmp(a, b, la) == 0;
}

const char *dns_name_parent(const char *name) {
        const char *dot;

        if (isempty(name) || streq(name, "."))
                return NULL;
        dot = strchr(name, '.');
        if (!dot || dot[1] == '\0')
                return ".";
        return dot + 1;
}

static int header(DnsPacket *p, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
        int r = 0;
        uint16_t v[6] = { id, flags, qd, an, ns, ar };

        for (size_t i = 0; i < ELEMENTSOF(v) && r >= 0; i++)
                r = dns_packet_append_u16(p, v[i]);
        return r;
}

static DnsPacket *packet_new(void) {
        return calloc(1, sizeof(DnsPacket));
}

int dns_message_new_query(uint16_t id, const char *name, uint16_t type, bool recursion_desired, DnsPacket **ret) {
        _cleanup_(dns_packet_freep) DnsPacket *p = packet_new();
        int r;

        if (!p)
                return -ENOMEM;
        r = header(p, id, (uint16_t) ((DNS_OPCODE_QUERY << 11) | (recursion_desired ? DNS_FLAG_RD : 0)), 1, 0, 0, 0);
        if (r >= 0)
                r = dns_packet_append_name(p, name);
        if (r >= 0)
                r = dns_packet_append_u16(p, type);
        if (r >= 0)
                r = dns_packet_append_u16(p, DNS_CLASS_IN);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int dns_message_new_txt_update(uint16_t id, const char *zone, const char *name, const char *value, bool add,
                               uint32_t ttl, DnsPacket **ret) {
        _cleanup_(dns_packet_freep) DnsPacket *p = packet_new();
        size_t vlen = strlen(value);
        uint8_t l = (uint8_t) vlen;
        int r;

        if (!p)
                return -ENOMEM;
        if (vlen > 255)
                return -EINVAL;
        /* Zone section (the "question"): zone SOA IN; no prerequisites; one update. */
        r = header(p, id, (uint16_t) (DNS_OPCODE_UPDATE << 11), 1, 0, 1, 0);
        if (r >= 0)
                r = dns_packet_append_name(p, zone);
        if (r >= 0)
                r = dns_packet_append_u16(p, DNS_TYPE_SOA);
        if (r >= 0)
                r = dns_packet_append_u16(p, DNS_CLASS_IN);
        if (r >= 0)
                r = dns_packet_append_name(p, name);
        if (r >= 0)
                r = dns_packet_append_u16(p, DNS_TYPE_TXT);
        if (r >= 0)
                r = dns_packet_append_u16(p, add ? DNS_CLASS_IN : DNS_CLASS_NONE);
        if (r >= 0)
                r = dns_packet_append_u32(p, add ? ttl : 0);
        if (r >= 0)
                r = dns_packet_append_u16(p, (uint16_t) (vlen + 1));
        if (r >= 0)
                r = dns_packet_append(p, &l, 1);
        if (r >= 0)
                r = dns_packet_append(p, value, vlen);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

/* ---- parsing ---- */

static uint16_t rd16(const uint8_t *p) {
        return (uint16_t) ((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p) {
        return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

/* Reads the name at *offset (advanced past it, not past the targets of pointers) into out
 * (DNS_NAME_TEXT_MAX). Pointers must point strictly before the label that holds them, and at most
 * DNS_POINTERS_MAX are followed: no loops. */
static int read_name(const uint8_t *msg, size_t size, size_t *offset, char *out) {
        size_t pos = *offset, end = 0, wire = 0, o = 0;
        unsigned jumps = 0;

        for (;;) {
                uint8_t l;

                if (pos >= size)
                        return -EBADMSG;
                l = msg[pos];
                if ((l & 0xC0) == 0xC0) {
                        size_t target;
                        if (pos + 1 >= size || ++jumps > DNS_POINTERS_MAX)
                                return -EBADMSG;
                        target = ((size_t) (l & 0x3F) << 8) | msg[pos + 1];
                        if (target >= pos)
                                return -EBADMSG;
                        if (end == 0)
                                end = pos + 2;
                        pos = target;
                        continue;
                }
                if ((l & 0xC0) != 0)
                        return -EBADMSG; /* extended label types: not in answers we ask for */
                pos++;
                wire += 1 + (size_t) l;
                if (wire > DNS_NAME_WIRE_MAX)
                        return -EBADMSG;
                if (l == 0)
                        break;
                if (pos + l > size)
                        return -EBADMSG;
                for (size_t i = 0; i < l; i++) {
                        uint8_t c = msg[pos + i];
                        if (name_char_ok((char) c) && c != 0)
                                out[o++] = (char) c;
                        else
                                o += (size_t) snprintf(out + o, 5, "\\%03u", c);
                }
                out[o++] = '.';
                pos += l;
        }
        if (o == 0)
                out[o++] = '.';
        out[o] = '\0';
        *offset = end != 0 ? end : pos;
        return 0;
}

DnsMessage *dns_message_free(DnsMessage *m) {
        if (!m)
                return NULL;
        free(m->data);
        free(m->records);
        free(m);
        return NULL;
}

int dns_message_parse(const uint8_t *data, size_t size, DnsMessage **ret) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        size_t pos = DNS_HEADER_SIZE, total;
        uint16_t qd, counts[_DNS_SECTION_MAX];
        int r;

        if (size < DNS_HEADER_SIZE || size > DNS_MESSAGE_MAX)
                return -EBADMSG;
        m = calloc(1, sizeof(DnsMessage));
        if (!m)
                return -ENOMEM;
        m->data = malloc(size);
        if (!m->data)
                return -ENOMEM;
        memcpy(m->data, data, size);
        m->size = size;
        m->id = rd16(data);
        m->flags = rd16(data + 2);
        m->opcode = (m->flags >> 11) & 0xF;
        m->rcode = m->flags & 0xF;
        qd = rd16(data + 4);
        for (size_t s = 0; s < _DNS_SECTION_MAX; s++)
                counts[s] = rd16(data + 6 + 2 * s);
        if (qd > 1)
                return -EBADMSG;
        total = (size_t) counts[0] + counts[1] + counts[2];
        if (total > DNS_RECORDS_MAX)
                return -E2BIG;

        if (qd == 1) {
                r = read_name(data, size, &pos, m->qname);
                if (r < 0)
                        return r;
                if (pos + 4 > size)
                        return -EBADMSG;
                m->qtype = rd16(data + pos);
                m->qclass = rd16(data + pos + 2);
                pos += 4;
                m->has_question = true;
        }
        if (total > 0) {
                m->records = calloc(total, sizeof(DnsRecord));
                if (!m->records)
                        return -ENOMEM;
        }
        for (size_t s = 0; s < _DNS_SECTION_MAX; s++)
                for (size_t i = 0; i < counts[s]; i++) {
                        DnsRecord *rr = &m->records[m->n_records];

                        /* A truncated answer holds what fitted: keep that. */
                        if (pos == size && (m->flags & DNS_FLAG_TC))
                                goto done;
                        rr->offset = pos;
                        r = read_name(data, size, &pos, rr->name);
                        if (r < 0)
                                return r;
                        if (pos + 10 > size)
                                return -EBADMSG;
                        rr->type = rd16(data + pos);
                        rr->class = rd16(data + pos + 2);
                        rr->ttl = rd32(data + pos + 4);
                        rr->rdata_len = rd16(data + pos + 8);
                        pos += 10;
                        if (rr->rdata_len > size - pos)
                                return -EBADMSG;
                        rr->rdata_offset = pos;
                        pos += rr->rdata_len;
                        m->n_records++;
                        m->n_section[s]++;
                }
        if (pos != size)
                return -EBADMSG;
done:
        *ret = TAKE_PTR(m);
        return 0;
}

size_t dns_message_section(const DnsMessage *m, DnsSection s, const DnsRecord **ret_first) {
        size_t first = 0;

        for (size_t i = 0; i < (size_t) s; i++)
                first += m->n_section[i];
        *ret_first = m->records ? m->records + first : NULL;
        return m->n_section[s];
}

int dns_record_txt(const DnsMessage *m, const DnsRecord *r, char **ret, size_t *ret_len) {
        const uint8_t *p = m->data + r->rdata_offset;
        size_t i = 0, o = 0;
        char *s;

        if (r->type != DNS_TYPE_TXT)
                return -EINVAL;
        s = malloc((size_t) r->rdata_len + 1);
        if (!s)
                return -ENOMEM;
        while (i < r->rdata_len) {
                size_t l = p[i++];
                if (l > (size_t) r->rdata_len - i) {
                        free(s);
                        return -EBADMSG;
                }
                memcpy(s + o, p + i, l);
                o += l;
                i += l;
        }
        s[o] = '\0';
        *ret = s;
        if (ret_len)
                *ret_len = o;
        return 0;
}

int dns_message_read_name(const DnsMessage *m, size_t limit, size_t *offset, char *out) {
        char name[DNS_NAME_TEXT_MAX];
        size_t pos = *offset;
        int k;

        /* Pointers go backwards only, so limiting the size the reader sees keeps it inside. */
        k = read_name(m->data, MIN(limit, m->size), &pos, name);
        if (k < 0)
                return k;
        memcpy(out, name, strlen(name) + 1);
        *offset = pos;
        return 0;
}

int dns_record_name(const DnsMessage *m, const DnsRecord *r, char *out) {
        size_t pos = r->rdata_offset;

        if (r->type != DNS_TYPE_NS && r->type != DNS_TYPE_CNAME && r->type != DNS_TYPE_SOA)
                return -EINVAL;
        return dns_message_read_name(m, r->rdata_offset + r->rdata_len, &pos, out);
}

int dns_record_address(const DnsMessage *m, const DnsRecord *r, char *out, size_t out_size) {
        int family = r->type == DNS_TYPE_A ? AF_INET : r->type == DNS_TYPE_AAAA ? AF_INET6 : AF_UNSPEC;

        if (family == AF_UNSPEC || r->rdata_len != (family == AF_INET ? 4 : 16))
                return -EBADMSG;
        if (!inet_ntop(family, m->data + r->rdata_offset, out, (socklen_t) out_size))
                return -ENOSPC;
        return 0;
}
