/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki-csr.h"
#include "pki-key.h"
#include "string-util.h"

/* Name rule (see pki_name_parse() and pki_name_format()):
 *
 *   "CN=web,O=Example"    RFC 4514 order: the LAST RDN in the string is the FIRST in the DER
 *                         (most significant), so the DER is O=Example, CN=web.
 *   "/O=Example/CN=web"   OpenSSL's -subj order: the FIRST RDN in the string is the first in the DER.
 *
 * pki_name_format() prints RFC 4514 (most specific RDN first, as NSS and certmonger do), so whatever
 * a user passes in the comma form is printed back exactly as written (modulo whitespace and escapes),
 * and the slash form "/O=Example/CN=web" is printed as "CN=web,O=Example". '+' is always a literal
 * character when parsing (no multi-valued RDNs); ',' '+' '"' '\\' '<' '>' ';' '=' and '/' can be
 * escaped with a backslash, and "\\XX" is a hex-encoded byte. */

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_STRING *, ASN1_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_TYPE *, ASN1_TYPE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_BIT_STRING *, ASN1_BIT_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAME *, GENERAL_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EXTENDED_KEY_USAGE *, EXTENDED_KEY_USAGE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BASIC_CONSTRAINTS *, BASIC_CONSTRAINTS_free);

static void extension_stack_free(STACK_OF(X509_EXTENSION) *s) {
        sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(STACK_OF(X509_EXTENSION) *, extension_stack_free);

/* ---- key usage ---- */

static const char *const key_usage_names[] = {
        "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
        "keyCertSign",      "cRLSign",        "encipherOnly",    "decipherOnly",
};

unsigned key_usage_from_string(const char *s) {
        if (!s)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(key_usage_names); i++)
                if (strcasecmp(s, key_usage_names[i]) == 0)
                        return 1U << i;
        return 0;
}

char *key_usage_to_string(unsigned ku) {
        _cleanup_strv_free_ char **l = NULL;

        for (size_t i = 0; i < ELEMENTSOF(key_usage_names); i++)
                if (ku & (1U << i))
                        if (strv_extend(&l, key_usage_names[i]) < 0)
                                return NULL;
        if (!l)
                return strdup("");
        return strv_join(l, ",");
}

/* ---- extended key usage ---- */

static const struct {
        const char *name;  /* certmonger's */
        const char *alias; /* OpenSSL short name or common short form */
        const char *oid;
} eku_table[] = {
        { "id-kp-serverAuth", "serverAuth", "1.3.6.1.5.5.7.3.1" },
        { "id-kp-clientAuth", "clientAuth", "1.3.6.1.5.5.7.3.2" },
        { "id-kp-codeSigning", "codeSigning", "1.3.6.1.5.5.7.3.3" },
        { "id-kp-emailProtection", "emailProtection", "1.3.6.1.5.5.7.3.4" },
        { "id-kp-timeStamping", "timeStamping", "1.3.6.1.5.5.7.3.8" },
        { "id-kp-OCSPSigning", "OCSPSigning", "1.3.6.1.5.5.7.3.9" },
        { "id-pkinit-KPClientAuth", "pkInitClientAuth", "1.3.6.1.5.2.3.4" },
        { "id-pkinit-KPKdc", "pkInitKDC", "1.3.6.1.5.2.3.5" },
        { "id-ms-kp-sc-logon", "msSmartcardLogin", "1.3.6.1.4.1.311.20.2.2" },
};

static bool is_dotted_oid(const char *s) {
        bool dot = true;

        if (isempty(s))
                return false;
        for (const char *p = s; *p; p++) {
                if (*p == '.') {
                        if (dot)
                                return false;
                        dot = true;
                } else if (*p >= '0' && *p <= '9')
                        dot = false;
                else
                        return false;
        }
        return !dot && strchr(s, '.');
}

int eku_normalize(const char *s, char **ret) {
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = NULL;
        char buf[128];
        const char *oid;
        char *n;

        if (isempty(s) || !ret)
                return -EINVAL;

        for (size_t i = 0; i < ELEMENTSOF(eku_table); i++)
                if (strcasecmp(s, eku_table[i].name) == 0 || strcasecmp(s, eku_table[i].alias) == 0 ||
                    streq(s, eku_table[i].oid)) {
                        n = strdup(eku_table[i].name);
                        if (!n)
                                return -ENOMEM;
                        *ret = n;
                        return 0;
                }

        /* Any other OID, dotted or by an OpenSSL short/long name, as dotted text. */
        if (is_dotted_oid(s))
                obj = OBJ_txt2obj(s, 1);
        else {
                int nid = OBJ_sn2nid(s);
                if (nid == NID_undef)
                        nid = OBJ_ln2nid(s);
                obj = nid == NID_undef ? NULL : OBJ_dup(OBJ_nid2obj(nid));
        }
        if (!obj) {
                ERR_clear_error();
                return -EINVAL;
        }
        int k = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
        if (k <= 0 || (size_t) k >= sizeof(buf)) {
                ERR_clear_error();
                return -EINVAL;
        }
        oid = buf;

        for (size_t i = 0; i < ELEMENTSOF(eku_table); i++)
                if (streq(oid, eku_table[i].oid))
                        oid = eku_table[i].name;

        n = strdup(oid);
        if (!n)
                return -ENOMEM;
        *ret = n;
        return 0;
}

void cert_template_done(CertTemplate *t) {
        if (!t)
                return;
        free(t->subject);
        strv_free(t->dns);
        strv_free(t->ip);
        strv_free(t->email);
        strv_free(t->principal);
        strv_free(t->eku);
        free(t->profile);
        *t = (CertTemplate) { .path_len = -1 };
}

/* ---- names ---- */

static const struct {
        const char *name;
        int nid;
} name_aliases[] = {
        { "CN", NID_commonName },
        { "O", NID_organizationName },
        { "OU", NID_organizationalUnitName },
        { "L", NID_localityName },
        { "ST", NID_stateOrProvinceName },
        { "S", NID_stateOrProvinceName },
        { "C", NID_countryName },
        { "DC", NID_domainComponent },
        { "UID", NID_userId },
        { "E", NID_pkcs9_emailAddress },
        { "EMAIL", NID_pkcs9_emailAddress },
        { "emailAddress", NID_pkcs9_emailAddress },
        { "serialNumber", NID_serialNumber },
        { "street", NID_streetAddress },
        { "title", NID_title },
        { "GN", NID_givenName },
        { "givenName", NID_givenName },
        { "SN", NID_surname },
        { "surname", NID_surname },
        { "initials", NID_initials },
        { "pseudonym", NID_pseudonym },
        { "postalCode", NID_postalCode },
};

static ASN1_OBJECT *name_attribute(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(name_aliases); i++)
                if (strcasecmp(key, name_aliases[i].name) == 0)
                        return OBJ_dup(OBJ_nid2obj(name_aliases[i].nid));

        /* Dotted OIDs and OpenSSL's other long/short names. */
        ASN1_OBJECT *o = NULL;
        if (is_dotted_oid(key))
                o = OBJ_txt2obj(key, 1);
        else {
                int nid = OBJ_sn2nid(key);
                if (nid == NID_undef)
                        nid = OBJ_ln2nid(key);
                if (nid != NID_undef)
                        o = OBJ_dup(OBJ_nid2obj(nid));
        }
        if (!o)
                ERR_clear_error();
        return o;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

typedef struct NamePart {
        char *key;
        char *value;
} NamePart;

static void name_parts_free(NamePart *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(p[i].key);
                free(p[i].value);
        }
        free(p);
}

/* Splits s at unescaped separators into ATTR=value parts; unescapes values. */
static int name_split(const char *s, char sep, NamePart **ret, size_t *ret_n, char **reterr) {
        NamePart *parts = NULL;
        size_t n = 0;
        const char *p = s;
        int r;

        for (;;) {
                _cleanup_free_ char *key = NULL, *value = NULL;
                size_t vlen = 0, vkeep = 0;

                while (*p == ' ')
                        p++;
                if (*p == '\0')
                        break;

                /* Attribute: up to '=' */
                const char *k = p;
                while (*p && *p != '=' && *p != sep)
                        p++;
                if (*p != '=') {
                        r = errorf(reterr, -EINVAL,
                                   "Subject '%s' is not valid: '%.*s' has no '='. Write each part as ATTRIBUTE=value, e.g. CN=www.example.com,O=Example.",
                                   s, (int) (p - k), k);
                        goto fail;
                }
                size_t klen = (size_t) (p - k);
                while (klen > 0 && k[klen - 1] == ' ')
                        klen--;
                if (klen == 0) {
                        r = errorf(reterr, -EINVAL, "Subject '%s' is not valid: an attribute name is missing before '='.", s);
                        goto fail;
                }
                key = strndup(k, klen);
                if (!key) {
                        r = -ENOMEM;
                        goto fail;
                }
                p++; /* '=' */

                while (*p == ' ')
                        p++;

                value = malloc(strlen(p) + 1);
                if (!value) {
                        r = -ENOMEM;
                        goto fail;
                }

                while (*p && *p != sep) {
                        if (*p == '\\') {
                                int h1, h2;

                                p++;
                                if (*p == '\0') {
                                        r = errorf(reterr, -EINVAL,
                                                   "Subject '%s' is not valid: it ends with a lone backslash. Write '\\\\' for a backslash.",
                                                   s);
                                        goto fail;
                                }
                                h1 = hexval(p[0]);
                                h2 = h1 >= 0 ? hexval(p[1]) : -1;
                                if (h1 >= 0 && h2 >= 0) {
                                        value[vlen++] = (char) (h1 << 4 | h2);
                                        p += 2;
                                } else
                                        value[vlen++] = *p++;
                                vkeep = vlen; /* escaped characters, even spaces, are kept */
                        } else {
                                value[vlen++] = *p;
                                if (*p != ' ')
                                        vkeep = vlen;
                                p++;
                        }
                }
                value[vkeep] = '\0';

                if (vkeep == 0) {
                        r = errorf(reterr, -EINVAL, "Subject '%s' is not valid: attribute '%s' has an empty value.", s, key);
                        goto fail;
                }
                if (memchr(value, '\0', vkeep)) {
                        r = errorf(reterr, -EINVAL, "Subject '%s' is not valid: attribute '%s' contains a NUL byte.", s, key);
                        goto fail;
                }

                NamePart *np = reallocarray(parts, n + 1, sizeof(NamePart));
                if (!np) {
                        r = -ENOMEM;
                        goto fail;
                }
                parts = np;
                parts[n++] = (NamePart) { .key = TAKE_PTR(key), .value = TAKE_PTR(value) };

                if (*p == sep)
                        p++;
        }

        *ret = parts;
        *ret_n = n;
        return 0;

fail:
        name_parts_free(parts, n);
        return r;
}

int pki_name_parse(const char *s, X509_NAME **ret, char **reterr) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        NamePart *parts = NULL;
        size_t n = 0;
        bool slash;
        int r;

        if (!s || !ret)
                return -EINVAL;

        while (*s == ' ')
                s++;
        slash = *s == '/';

        r = name_split(slash ? s + 1 : s, slash ? '/' : ',', &parts, &n, reterr);
        if (r < 0)
                return r;

        name = X509_NAME_new();
        if (!name) {
                r = -ENOMEM;
                goto finish;
        }

        for (size_t j = 0; j < n; j++) {
                /* RFC 4514: the last RDN in the string comes first in the DER. */
                const NamePart *part = &parts[slash ? j : n - 1 - j];
                _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = name_attribute(part->key);

                if (!obj) {
                        r = errorf(reterr, -EINVAL,
                                   "Unknown attribute '%s' in subject '%s': use CN, O, OU, L, ST, C, DC, UID, emailAddress, serialNumber or a dotted OID.",
                                   part->key, s);
                        goto finish;
                }
                if (X509_NAME_add_entry_by_OBJ(name, obj, MBSTRING_UTF8, (const unsigned char *) part->value, -1, -1,
                                               0) <= 0) {
                        ERR_clear_error();
                        if (OBJ_obj2nid(obj) == NID_countryName)
                                r = errorf(reterr, -EINVAL,
                                           "Value '%s' is not valid for attribute C in subject '%s': use a two-letter country code, e.g. C=US.",
                                           part->value, s);
                        else
                                r = errorf(reterr, -EINVAL,
                                           "Value '%s' is not valid for attribute '%s' in subject '%s' (too long, or characters that attribute does not allow).",
                                           part->value, part->key, s);
                        goto finish;
                }
        }

        *ret = TAKE_PTR(name);
        r = 0;
finish:
        name_parts_free(parts, n);
        return r;
}

char *pki_name_format(const X509_NAME *name) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        char *data = NULL;
        long len;

        if (!name)
                return NULL;

        b = BIO_new(BIO_s_mem());
        if (!b)
                return NULL;

        /* RFC 2253/4514 escaping and order (most specific first), UTF-8 kept as is. */
        if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
                ERR_clear_error();
                return NULL;
        }

        len = BIO_get_mem_data(b, &data);
        if (len < 0)
                return NULL;
        if (len == 0)
                return strdup("");
        return strndup(data, (size_t) len);
}

/* ---- Kerberos principal names (RFC 4556 KRB5PrincipalName) ---- */

typedef struct CK_KRB5_PRINCNAME {
        ASN1_INTEGER *name_type;
        STACK_OF(ASN1_GENERALSTRING) *name_string;
} CK_KRB5_PRINCNAME;

typedef struct CK_KRB5_PRINCIPAL {
        ASN1_GENERALSTRING *realm;
        CK_KRB5_PRINCNAME *principal_name;
} CK_KRB5_PRINCIPAL;

ASN1_SEQUENCE(CK_KRB5_PRINCNAME) = {
        ASN1_EXP(CK_KRB5_PRINCNAME, name_type, ASN1_INTEGER, 0),
        ASN1_EXP_SEQUENCE_OF(CK_KRB5_PRINCNAME, name_string, ASN1_GENERALSTRING, 1),
} static_ASN1_SEQUENCE_END(CK_KRB5_PRINCNAME)

ASN1_SEQUENCE(CK_KRB5_PRINCIPAL) = {
        ASN1_EXP(CK_KRB5_PRINCIPAL, realm, ASN1_GENERALSTRING, 0),
        ASN1_EXP(CK_KRB5_PRINCIPAL, principal_name, CK_KRB5_PRINCNAME, 1),
} static_ASN1_SEQUENCE_END(CK_KRB5_PRINCIPAL)

static void krb5_principal_free(CK_KRB5_PRINCIPAL *p) {
        ASN1_item_free((ASN1_VALUE *) p, ASN1_ITEM_rptr(CK_KRB5_PRINCIPAL));
}
DEFINE_TRIVIAL_CLEANUP_FUNC(CK_KRB5_PRINCIPAL *, krb5_principal_free);

/* Unescapes s[0..len) (backslash quotes the next character). */
static char *krb5_unescape(const char *s, size_t len) {
        char *out = malloc(len + 1);
        size_t n = 0;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '\\' && i + 1 < len)
                        i++;
                out[n++] = s[i];
        }
        out[n] = '\0';
        return out;
}

static int generalstring_push(STACK_OF(ASN1_GENERALSTRING) *sk, const char *s, size_t len) {
        _cleanup_free_ char *u = krb5_unescape(s, len);
        ASN1_GENERALSTRING *g;

        if (!u)
                return -ENOMEM;
        if (u[0] == '\0')
                return -EINVAL;

        g = ASN1_GENERALSTRING_new();
        if (!g)
                return -ENOMEM;
        if (!ASN1_STRING_set(g, u, -1) || !sk_ASN1_GENERALSTRING_push(sk, g)) {
                ASN1_GENERALSTRING_free(g);
                return -ENOMEM;
        }
        return 0;
}

int pki_krb5_principal_to_der(const char *principal, unsigned char **ret, size_t *ret_len) {
        _cleanup_(krb5_principal_freep) CK_KRB5_PRINCIPAL *kp = NULL;
        unsigned char *der = NULL;
        const char *at = NULL, *start;
        int r, n;

        if (isempty(principal) || !ret || !ret_len)
                return -EINVAL;

        /* The realm follows the last unescaped '@'. */
        for (const char *p = principal; *p; p++) {
                if (*p == '\\' && p[1]) {
                        p++;
                        continue;
                }
                if (*p == '@')
                        at = p;
        }
        if (!at || at == principal || at[1] == '\0')
                return -EINVAL;

        kp = (CK_KRB5_PRINCIPAL *) ASN1_item_new(ASN1_ITEM_rptr(CK_KRB5_PRINCIPAL));
        if (!kp)
                return -ENOMEM;

        {
                _cleanup_free_ char *realm = krb5_unescape(at + 1, strlen(at + 1));
                if (!realm)
                        return -ENOMEM;
                if (!ASN1_STRING_set(kp->realm, realm, -1))
                        return -ENOMEM;
        }
        if (!ASN1_INTEGER_set(kp->principal_name->name_type, 1)) /* KRB5_NT_PRINCIPAL */
                return -ENOMEM;

        start = principal;
        for (const char *p = principal; p <= at; p++) {
                if (p < at && *p == '\\') {
                        p++;
                        continue;
                }
                if (p == at || *p == '/') {
                        r = generalstring_push(kp->principal_name->name_string, start, (size_t) (p - start));
                        if (r < 0)
                                return r;
                        start = p + 1;
                }
        }

        n = ASN1_item_i2d((ASN1_VALUE *) kp, &der, ASN1_ITEM_rptr(CK_KRB5_PRINCIPAL));
        if (n <= 0 || !der) {
                ERR_clear_error();
                return -ENOMEM;
        }

        /* Hand back memory from malloc(), not OPENSSL_malloc(). */
        unsigned char *copy = malloc((size_t) n);
        if (!copy) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        memcpy(copy, der, (size_t) n);
        OPENSSL_free(der);

        *ret = copy;
        *ret_len = (size_t) n;
        return 0;
}

static int krb5_append_escaped(char **buf, size_t *len, const ASN1_STRING *s, const char *special) {
        const unsigned char *d = ASN1_STRING_get0_data(s);
        int l = ASN1_STRING_length(s);
        char *nb;

        if (!d || l <= 0)
                return -EBADMSG;

        nb = realloc(*buf, *len + 2 * (size_t) l + 2);
        if (!nb)
                return -ENOMEM;
        *buf = nb;

        for (int i = 0; i < l; i++) {
                if (d[i] == '\0')
                        return -EBADMSG;
                if (strchr(special, d[i]))
                        nb[(*len)++] = '\\';
                nb[(*len)++] = (char) d[i];
        }
        nb[*len] = '\0';
        return 0;
}

int pki_krb5_principal_from_der(const unsigned char *der, size_t len, char **ret) {
        _cleanup_(krb5_principal_freep) CK_KRB5_PRINCIPAL *kp = NULL;
        _cleanup_free_ char *buf = NULL;
        const unsigned char *p = der;
        size_t blen = 0;
        int r, n;

        if (!der || !ret)
                return -EINVAL;
        if (len == 0 || len > 65536)
                return -EBADMSG;

        kp = (CK_KRB5_PRINCIPAL *) ASN1_item_d2i(NULL, &p, (long) len, ASN1_ITEM_rptr(CK_KRB5_PRINCIPAL));
        if (!kp) {
                ERR_clear_error();
                return -EBADMSG;
        }
        if (!kp->realm || !kp->principal_name || !kp->principal_name->name_string)
                return -EBADMSG;

        n = sk_ASN1_GENERALSTRING_num(kp->principal_name->name_string);
        if (n <= 0)
                return -EBADMSG;

        for (int i = 0; i < n; i++) {
                if (i > 0) {
                        /* separator */
                        char *nb = realloc(buf, blen + 2);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        buf[blen++] = '/';
                        buf[blen] = '\0';
                }
                r = krb5_append_escaped(&buf, &blen, sk_ASN1_GENERALSTRING_value(kp->principal_name->name_string, i),
                                        "/@\\");
                if (r < 0)
                        return r;
        }

        char *nb = realloc(buf, blen + 2);
        if (!nb)
                return -ENOMEM;
        buf = nb;
        buf[blen++] = '@';
        buf[blen] = '\0';

        r = krb5_append_escaped(&buf, &blen, kp->realm, "@\\");
        if (r < 0)
                return r;

        *ret = TAKE_PTR(buf);
        return 0;
}

/* ---- CSR ---- */

static int exts_push(STACK_OF(X509_EXTENSION) **exts, X509_EXTENSION *ext) {
        if (!ext) {
                ERR_clear_error();
                return -ENOMEM;
        }
        if (!*exts) {
                *exts = sk_X509_EXTENSION_new_null();
                if (!*exts) {
                        X509_EXTENSION_free(ext);
                        return -ENOMEM;
                }
        }
        if (!sk_X509_EXTENSION_push(*exts, ext)) {
                X509_EXTENSION_free(ext);
                return -ENOMEM;
        }
        return 0;
}

static int general_name_push(GENERAL_NAMES *gens, int type, void *value) {
        GENERAL_NAME *g = GENERAL_NAME_new();

        if (!g)
                return -ENOMEM;
        GENERAL_NAME_set0_value(g, type, value);
        if (!sk_GENERAL_NAME_push(gens, g)) {
                GENERAL_NAME_free(g);
                return -ENOMEM;
        }
        return 0;
}

static int ia5_push(GENERAL_NAMES *gens, int type, const char *s) {
        ASN1_IA5STRING *v = ASN1_IA5STRING_new();
        int r;

        if (!v || !ASN1_STRING_set(v, s, -1)) {
                ASN1_IA5STRING_free(v);
                return -ENOMEM;
        }
        r = general_name_push(gens, type, v);
        if (r < 0)
                ASN1_IA5STRING_free(v);
        return r;
}

static int othername_push(GENERAL_NAMES *gens, const char *oid, int type, ASN1_STRING *value) {
        _cleanup_(GENERAL_NAME_freep) GENERAL_NAME *g = NULL;
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = NULL;
        _cleanup_(ASN1_TYPE_freep) ASN1_TYPE *t = NULL;

        obj = OBJ_txt2obj(oid, 1);
        t = ASN1_TYPE_new();
        g = GENERAL_NAME_new();
        if (!obj || !t || !g) {
                ASN1_STRING_free(value);
                return -ENOMEM;
        }
        ASN1_TYPE_set(t, type, value);
        if (!GENERAL_NAME_set0_othername(g, obj, t))
                return -ENOMEM;
        TAKE_PTR(obj);
        TAKE_PTR(t);
        if (!sk_GENERAL_NAME_push(gens, g))
                return -ENOMEM;
        TAKE_PTR(g);
        return 0;
}

static bool ia5_name_is_sane(const char *s) {
        if (isempty(s) || strlen(s) > 253 + 64)
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f || *p == ',')
                        return false;
        return true;
}

static int build_san(const CertTemplate *t, STACK_OF(X509_EXTENSION) **exts, char **reterr) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = NULL;
        int r;

        if (strv_length(t->dns) + strv_length(t->ip) + strv_length(t->email) + strv_length(t->principal) == 0)
                return 0;

        gens = GENERAL_NAMES_new();
        if (!gens)
                return -ENOMEM;

        for (char **d = t->dns; d && *d; d++) {
                if (!ia5_name_is_sane(*d))
                        return errorf(reterr, -EINVAL, "DNS name '%s' is not valid: use letters, digits, '-', '.' (and a leading '*.').", *d);
                r = ia5_push(gens, GEN_DNS, *d);
                if (r < 0)
                        return r;
        }

        for (char **e = t->email; e && *e; e++) {
                if (!ia5_name_is_sane(*e) || !strchr(*e, '@'))
                        return errorf(reterr, -EINVAL, "Email address '%s' is not valid: use the form user@example.com.", *e);
                r = ia5_push(gens, GEN_EMAIL, *e);
                if (r < 0)
                        return r;
        }

        for (char **p = t->principal; p && *p; p++) {
                _cleanup_free_ unsigned char *der = NULL;
                size_t derlen = 0;
                ASN1_STRING *upn, *seq;

                r = pki_krb5_principal_to_der(*p, &der, &derlen);
                if (r == -EINVAL)
                        return errorf(reterr, r,
                                      "Kerberos principal '%s' is not valid: use the form service/host@REALM or user@REALM.", *p);
                if (r < 0)
                        return r;

                /* Microsoft UPN: UTF8String "user@REALM" as written. */
                upn = ASN1_UTF8STRING_new();
                if (!upn || !ASN1_STRING_set(upn, *p, -1)) {
                        ASN1_STRING_free(upn);
                        return -ENOMEM;
                }
                r = othername_push(gens, PKI_OID_MS_UPN, V_ASN1_UTF8STRING, upn);
                if (r < 0)
                        return r;

                /* KRB5PrincipalName: the ANY holds the whole SEQUENCE encoding. */
                seq = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
                if (!seq || !ASN1_STRING_set(seq, der, (int) derlen)) {
                        ASN1_STRING_free(seq);
                        return -ENOMEM;
                }
                r = othername_push(gens, PKI_OID_KRB5_PRINCIPAL_NAME, V_ASN1_SEQUENCE, seq);
                if (r < 0)
                        return r;
        }

        for (char **i = t->ip; i && *i; i++) {
                ASN1_OCTET_STRING *ip = a2i_IPADDRESS(*i);
                if (!ip) {
                        ERR_clear_error();
                        return errorf(reterr, -EINVAL, "IP address '%s' is not valid: use an IPv4 or IPv6 address, e.g. 192.0.2.1 or 2001:db8::1.", *i);
                }
                r = general_name_push(gens, GEN_IPADD, ip);
                if (r < 0) {
                        ASN1_OCTET_STRING_free(ip);
                        return r;
                }
        }

        return exts_push(exts, X509V3_EXT_i2d(NID_subject_alt_name, 0, gens));
}

int pki_ext_key_usage(unsigned ku, X509_EXTENSION **ret) {
        _cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *bs = NULL;
        X509_EXTENSION *ext;

        if (!ret)
                return -EINVAL;

        bs = ASN1_BIT_STRING_new();
        if (!bs)
                return -ENOMEM;
        for (unsigned i = 0; i < ELEMENTSOF(key_usage_names); i++)
                if (ku & (1U << i))
                        if (!ASN1_BIT_STRING_set_bit(bs, (int) i, 1))
                                return -ENOMEM;

        ext = X509V3_EXT_i2d(NID_key_usage, 1, bs);
        if (!ext) {
                ERR_clear_error();
                return -ENOMEM;
        }
        *ret = ext;
        return 0;
}

int pki_ext_basic_constraints(bool is_ca, int path_len, X509_EXTENSION **ret) {
        _cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc = NULL;
        X509_EXTENSION *ext;

        if (!ret)
                return -EINVAL;

        bc = BASIC_CONSTRAINTS_new();
        if (!bc)
                return -ENOMEM;
        bc->ca = is_ca ? 0xFF : 0;
        if (is_ca && path_len >= 0) {
                bc->pathlen = ASN1_INTEGER_new();
                if (!bc->pathlen || !ASN1_INTEGER_set(bc->pathlen, path_len))
                        return -ENOMEM;
        }

        ext = X509V3_EXT_i2d(NID_basic_constraints, 1, bc);
        if (!ext) {
                ERR_clear_error();
                return -ENOMEM;
        }
        *ret = ext;
        return 0;
}

int pki_ext_subject_key_id(EVP_PKEY *key, X509_EXTENSION **ret) {
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *os = NULL;
        unsigned char id[20];
        X509_EXTENSION *ext;
        int r;

        if (!key || !ret)
                return -EINVAL;

        r = pki_key_id(key, id);
        if (r < 0)
                return r;

        os = ASN1_OCTET_STRING_new();
        if (!os || !ASN1_OCTET_STRING_set(os, id, sizeof(id)))
                return -ENOMEM;

        ext = X509V3_EXT_i2d(NID_subject_key_identifier, 0, os);
        if (!ext) {
                ERR_clear_error();
                return -ENOMEM;
        }
        *ret = ext;
        return 0;
}

static int build_eku(const CertTemplate *t, STACK_OF(X509_EXTENSION) **exts, char **reterr) {
        _cleanup_(EXTENDED_KEY_USAGE_freep) EXTENDED_KEY_USAGE *eku = NULL;

        if (strv_length(t->eku) == 0)
                return 0;

        eku = sk_ASN1_OBJECT_new_null();
        if (!eku)
                return -ENOMEM;

        for (char **e = t->eku; *e; e++) {
                _cleanup_free_ char *norm = NULL;
                const char *oid = NULL;
                ASN1_OBJECT *obj;
                int r;

                r = eku_normalize(*e, &norm);
                if (r == -EINVAL)
                        return errorf(reterr, r,
                                      "Unknown extended key usage '%s': use id-kp-serverAuth, id-kp-clientAuth, id-kp-codeSigning, id-kp-emailProtection, id-kp-timeStamping, id-kp-OCSPSigning, id-pkinit-KPClientAuth, id-pkinit-KPKdc, id-ms-kp-sc-logon or a dotted OID.",
                                      *e);
                if (r < 0)
                        return r;

                oid = norm;
                for (size_t i = 0; i < ELEMENTSOF(eku_table); i++)
                        if (streq(norm, eku_table[i].name))
                                oid = eku_table[i].oid;

                obj = OBJ_txt2obj(oid, 1);
                if (!obj) {
                        ERR_clear_error();
                        return -ENOMEM;
                }
                if (!sk_ASN1_OBJECT_push(eku, obj)) {
                        ASN1_OBJECT_free(obj);
                        return -ENOMEM;
                }
        }

        return exts_push(exts, X509V3_EXT_i2d(NID_ext_key_usage, 0, eku));
}

int pki_ext_template_name(const char *name, X509_EXTENSION **ret) {
        _cleanup_(ASN1_STRING_freep) ASN1_STRING *bmp = NULL;
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *os = NULL;
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = NULL;
        unsigned char *der = NULL;
        X509_EXTENSION *ext;
        int n;

        if (isempty(name) || !ret)
                return -EINVAL;

        if (ASN1_mbstring_copy(&bmp, (const unsigned char *) name, -1, MBSTRING_UTF8, B_ASN1_BMPSTRING) <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }

        n = i2d_ASN1_BMPSTRING(bmp, &der);
        if (n <= 0) {
                ERR_clear_error();
                return -ENOMEM;
        }
        os = ASN1_OCTET_STRING_new();
        if (!os || !ASN1_OCTET_STRING_set(os, der, n)) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        OPENSSL_free(der);

        obj = OBJ_txt2obj(PKI_OID_MS_TEMPLATE_NAME, 1);
        if (!obj)
                return -ENOMEM;

        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
        if (!ext) {
                ERR_clear_error();
                return -ENOMEM;
        }
        *ret = ext;
        return 0;
}

int pki_csr_build(EVP_PKEY *key, const CertTemplate *t, const char *nickname, X509_REQ **ret, char **reterr) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_(X509_NAME_freep) X509_NAME *subject = NULL;
        _cleanup_(extension_stack_freep) STACK_OF(X509_EXTENSION) *exts = NULL;
        X509_EXTENSION *ext;
        int r;

        if (!key || !t || !ret)
                return -EINVAL;

        r = pki_name_parse(strempty(t->subject), &subject, reterr);
        if (r < 0)
                return r;

        if (t->path_len >= 0 && !t->is_ca)
                return errorf(reterr, -EINVAL, "A CA path length was given for a certificate that is not for a CA: add --for-ca, or drop the path length.");

        req = X509_REQ_new();
        if (!req)
                return -ENOMEM;

        if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, subject)) {
                ERR_clear_error();
                return -ENOMEM;
        }
        /* Without OpenSSL 3.0's encoder/decoder round trip where we can (the request then holds no
         * cached EVP_PKEY: pki_sign_csr() copes). */
        r = pki_key_set_x509_pubkey(key, X509_REQ_get_X509_PUBKEY(req));
        if (r == -EOPNOTSUPP) {
                if (!X509_REQ_set_pubkey(req, key)) {
                        ERR_clear_error();
                        return -ENOMEM;
                }
        } else if (r < 0)
                return r;

        if (!isempty(nickname) &&
            !X509_REQ_add1_attr_by_NID(req, NID_friendlyName, MBSTRING_UTF8, (const unsigned char *) nickname, -1)) {
                ERR_clear_error();
                return errorf(reterr, -EINVAL, "Nickname '%s' cannot be put into the request as friendlyName.", nickname);
        }

        r = build_san(t, &exts, reterr);
        if (r < 0)
                return r;

        if (t->key_usage != 0) {
                r = pki_ext_key_usage(t->key_usage, &ext);
                if (r < 0)
                        return r;
                r = exts_push(&exts, ext);
                if (r < 0)
                        return r;
        }

        r = build_eku(t, &exts, reterr);
        if (r < 0)
                return r;

        r = pki_ext_basic_constraints(t->is_ca, t->path_len, &ext);
        if (r < 0)
                return r;
        r = exts_push(&exts, ext);
        if (r < 0)
                return r;

        r = pki_ext_subject_key_id(key, &ext);
        if (r < 0)
                return r;
        r = exts_push(&exts, ext);
        if (r < 0)
                return r;

        if (!isempty(t->profile)) {
                r = pki_ext_template_name(t->profile, &ext);
                if (r == -EINVAL)
                        return errorf(reterr, r, "Profile name '%s' cannot be encoded as a certificate template name.", t->profile);
                if (r < 0)
                        return r;
                r = exts_push(&exts, ext);
                if (r < 0)
                        return r;
        }

        if (!X509_REQ_add_extensions(req, exts)) {
                ERR_clear_error();
                return -ENOMEM;
        }

        if (X509_REQ_sign(req, key, pki_key_digest(key)) <= 0) {
                ERR_clear_error();
                return errorf(reterr, -EINVAL, "Could not sign the request with the key: is it a private key of a supported type?");
        }

        *ret = TAKE_PTR(req);
        return 0;
}

int pki_csr_to_pem(X509_REQ *req, char **ret) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        char *data = NULL;
        long len;

        if (!req || !ret)
                return -EINVAL;

        b = BIO_new(BIO_s_mem());
        if (!b)
                return -ENOMEM;
        if (!PEM_write_bio_X509_REQ(b, req)) {
                ERR_clear_error();
                return -EIO;
        }
        len = BIO_get_mem_data(b, &data);
        if (len <= 0 || !data)
                return -EIO;

        char *s = strndup(data, (size_t) len);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(NETSCAPE_SPKI *, NETSCAPE_SPKI_free);

int pki_spkac_build(EVP_PKEY *key, char **ret) {
        _cleanup_(NETSCAPE_SPKI_freep) NETSCAPE_SPKI *spki = NULL;
        char *b64;

        if (!key || !ret)
                return -EINVAL;
        spki = NETSCAPE_SPKI_new();
        if (!spki)
                return -ENOMEM;
        /* An empty challenge, as certmonger sends without a challenge password. */
        if (!NETSCAPE_SPKI_set_pubkey(spki, key) || !NETSCAPE_SPKI_sign(spki, key, pki_key_digest(key))) {
                ERR_clear_error();
                return -EIO;
        }
        b64 = NETSCAPE_SPKI_b64_encode(spki);
        if (!b64) {
                ERR_clear_error();
                return -ENOMEM;
        }
        /* OPENSSL_malloc'd: copied so that callers free() it like everything else. */
        *ret = strdup(b64);
        OPENSSL_free(b64);
        return *ret ? 0 : -ENOMEM;
}

int pki_csr_from_pem(const char *pem, X509_REQ **ret) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        X509_REQ *req;

        if (!pem || !ret)
                return -EINVAL;

        b = BIO_new_mem_buf(pem, -1);
        if (!b)
                return -ENOMEM;

        req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
        if (!req) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret = req;
        return 0;
}
