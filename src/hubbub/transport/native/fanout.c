/*
 * The native half of the transport's sender (hubbub.transport.sender.NativeSender) and the SFU's
 * fan-out: rewrite + SRTP protect + sendmmsg, one call per received packet per up-track. Built
 * when the package is installed (setup.py: the optional extension hubbub.transport.native._fanout).
 *
 * Three types:
 *
 *   Peer   the outbound half of one PeerTransport: THE outbound SRTP context of that connection
 *          (keyed from the DTLS-exported key + salt, SSRC_ANY_OUTBOUND: every RTP packet the
 *          transport sends, on any SSRC, is protected here, so no SSRC is ever protected by two
 *          contexts, RFC 3711 §9.1) and where its datagrams go: nowhere (mode 0, counted like
 *          "dropped_not_connected"), a UDP socket fd + sockaddr (mode 1, sent with sendmmsg), or
 *          a Python callable sendto(data, addr) (mode 2, ICE-TCP). SRTCP is not done here: it has
 *          its own keys and index, and the sender protects it with the transport's libsrtp session.
 *   Entry  one down-track: SSRC, payload type map, the munger's open-epoch position (``munger``,
 *          the tuple of Munger.snapshot()) and the counters. Python (DownTrack) owns every
 *          decision and pushes state here whenever it changes; C only runs the steady state and
 *          sends everything else back to Python.
 *   Group  the entries of one up-track. Group.forward(packet, pt, seq, ts, keyframe,
 *          payload_size, now) writes, protects and sends every copy and returns None, or the
 *          list of entry indices that need the Python slow path (new epoch, late packet,
 *          keyframe awaited and arrived, header extension ID remap, unknown state).
 *
 * Only the steady state of Munger.munge is mirrored here: the next packet of the open epoch
 * (0 < (seq - in_ext) mod 2^16 < 2^15). Everything else is the Python munger's business.
 *
 * Built against libsrtp 2.x (Debian libsrtp2-dev): srtp_protect works in place and may write
 * SRTP_MAX_TRAILER_LEN bytes after the packet.
 *
 * With HUBBUB_WITH_OPENSSL, AEAD_AES_128_GCM (RFC 7714) is done here with one OpenSSL
 * EVP context per peer, keyed once: Debian's libsrtp2 does GCM through NSS, which sets up a
 * fresh PKCS#11 context for every packet (about 2.3 us for a 1200-byte packet here against
 * 0.95 us with a reused EVP context). It is libsrtp's own sender algorithm, step for step:
 * session key and salt from the AES-CM PRF (RFC 3711 §4.3.1, kdr 0; labels 0 and 2), the
 * packet index estimated per SSRC as srtp_rdbx_estimate_index does (RFC 3711 §3.3.1), a
 * packet older than the 1024-packet window refused as srtp_protect refuses it, the IV of
 * RFC 7714 §8.1, the RTP header (with CSRCs and extension) as AAD and a 16-byte tag; the
 * tests check that its output is byte-identical to libsrtp's. AES_CM_128_HMAC_SHA1_80 stays
 * with libsrtp.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <srtp2/srtp.h>

#ifdef HUBBUB_WITH_OPENSSL
#include <openssl/evp.h>
#endif

#define MAX_PACKET 4096  /* larger RTP packets are refused (the UDP socket reads 2 KiB) */
#define BATCH 64         /* datagrams per sendmmsg call */

/* ------------------------------------------------------------------------------------------ */
/* Peer                                                                                        */

typedef struct {
    uint32_t ssrc;
    uint64_t index; /* highest packet index sent (ROC << 16 | SEQ), libsrtp's rdbx->index */
} TxStream;

#define REPLAY_WINDOW 1024 /* as the transport's libsrtp sessions (hubbub.proto.srtp) */

/* One packet stamped with a transport-wide sequence number: what the send-side estimate
 * (hubbub.proto.cc.sendside) needs of it. 16 bytes, unpacked in Python as "=HHid". */
typedef struct {
    uint16_t seq;
    uint16_t size;
    int32_t cluster;
    double t; /* CLOCK_MONOTONIC seconds: the event loop's clock (time.monotonic) */
} TwccRecord;

#define TWCC_LOG 8192 /* records kept between two take_sent calls (oldest dropped beyond) */
#define TWCC_GROWTH 8 /* the most bytes stamping adds to a packet (a new one-byte block) */

typedef struct {
    PyObject_HEAD
    srtp_t ctx;       /* NULL until set_key (libsrtp profiles) */
    int aead;         /* 1: AES-128-GCM done here (gcm, salt, streams) */
#ifdef HUBBUB_WITH_OPENSSL
    EVP_CIPHER_CTX *gcm;
#endif
    unsigned char salt[12];
    TxStream *streams;
    int nstreams, streams_cap;
    int mode;         /* 0 drop, 1 udp fd, 2 python sendto */
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    PyObject *py_sendto; /* mode 2 */
    PyObject *py_addr;
    unsigned long long packets, bytes, protect_failures, not_connected, send_dropped, send_errors;
    int twcc_id;          /* transport-wide CC extension ID stamped on every RTP packet, 0: none */
    int probe_cluster;    /* probe cluster id recorded with what is sent now, -1: none */
    uint16_t twcc_seq;    /* the next transport-wide sequence number */
    TwccRecord *log;      /* what was stamped since the last take_sent, a ring of TWCC_LOG */
    int log_head, log_len;
} Peer;

static PyTypeObject PeerType;

static int srtp_ready = 0;

static int
Peer_traverse(Peer *self, visitproc visit, void *arg)
{
    Py_VISIT(self->py_sendto);
    Py_VISIT(self->py_addr);
    return 0;
}

static int
Peer_clear(Peer *self)
{
    Py_CLEAR(self->py_sendto);
    Py_CLEAR(self->py_addr);
    return 0;
}

static void
Peer_dealloc(Peer *self)
{
    PyObject_GC_UnTrack(self);
    Peer_clear(self);
    if (self->ctx != NULL) {
        srtp_dealloc(self->ctx);
        self->ctx = NULL;
    }
#ifdef HUBBUB_WITH_OPENSSL
    if (self->gcm != NULL)
        EVP_CIPHER_CTX_free(self->gcm);
#endif
    memset(self->salt, 0, sizeof self->salt);
    PyMem_Free(self->streams);
    PyMem_Free(self->log);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Peer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Peer *self = (Peer *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->fd = -1;
    self->probe_cluster = -1;
    return (PyObject *)self;
}

static inline int
peer_keyed(const Peer *p)
{
    return p->ctx != NULL || p->aead;
}

#ifdef HUBBUB_WITH_OPENSSL
/* RFC 3711 §4.3.1 AES-CM PRF with key_derivation_rate 0, as libsrtp's srtp_kdf_generate: the
 * counter block is the master salt (zero-padded to 14 octets) XOR the label in octet 7, then a
 * 16-bit block counter. The master salt of AEAD_AES_128_GCM is 12 octets (RFC 7714 §12). */
static int
kdf(const unsigned char *master_key, const unsigned char *master_salt, int salt_len, unsigned char label,
    unsigned char *out, int out_len)
{
    unsigned char block[16], zeros[32];
    memset(block, 0, sizeof block);
    memset(zeros, 0, sizeof zeros);
    memcpy(block, master_salt, (size_t)salt_len);
    block[7] ^= label;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok = c != NULL && out_len <= 32 && EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, master_key, block) == 1 &&
                    EVP_EncryptUpdate(c, out, &n, zeros, out_len) == 1 && n == out_len;
    EVP_CIPHER_CTX_free(c);
    memset(block, 0, sizeof block);
    return ok ? 0 : -1;
}

static TxStream *
tx_stream(Peer *p, uint32_t ssrc)
{
    for (int i = 0; i < p->nstreams; i++)
        if (p->streams[i].ssrc == ssrc)
            return &p->streams[i];
    if (p->nstreams == p->streams_cap) {
        int cap = p->streams_cap ? p->streams_cap * 2 : 8;
        TxStream *ns = PyMem_Realloc(p->streams, sizeof(TxStream) * (size_t)cap);
        if (ns == NULL)
            return NULL;
        p->streams = ns;
        p->streams_cap = cap;
    }
    TxStream *st = &p->streams[p->nstreams++];
    st->ssrc = ssrc;
    st->index = 0; /* as srtp_rdbx_init */
    return st;
}

/* srtp_rdbx_estimate_index + srtp_index_guess (libsrtp 2): the packet index for seq s and the
 * distance from the highest index sent. */
static int32_t
estimate_index(uint64_t local, uint16_t s, uint64_t *guess)
{
    if (local <= 0x8000) {
        *guess = s;
        return (int32_t)s - (int32_t)local;
    }
    uint32_t local_roc = (uint32_t)(local >> 16), guess_roc;
    uint16_t local_seq = (uint16_t)local;
    int32_t difference;
    if (local_seq < 0x8000) {
        if ((int32_t)s - (int32_t)local_seq > 0x8000) {
            guess_roc = local_roc - 1;
            difference = (int32_t)s - (int32_t)local_seq - 0x10000;
        } else {
            guess_roc = local_roc;
            difference = (int32_t)s - (int32_t)local_seq;
        }
    } else {
        if ((int32_t)local_seq - 0x8000 > (int32_t)s) {
            guess_roc = local_roc + 1;
            difference = (int32_t)s - (int32_t)local_seq + 0x10000;
        } else {
            guess_roc = local_roc;
            difference = (int32_t)s - (int32_t)local_seq;
        }
    }
    *guess = ((uint64_t)guess_roc << 16) | s;
    return difference;
}

/* RFC 7714 §8.1: protect buf[0..*len) in place and append the 16-byte tag. 0 ok, -1 refused. */
static int
gcm_protect(Peer *p, unsigned char *buf, int *len)
{
    int n = *len;
    if (n < 12)
        return -1;
    int h = 12 + 4 * (buf[0] & 0x0F);
    if (buf[0] & 0x10) {
        if (h + 4 > n)
            return -1;
        h += 4 + 4 * ((buf[h + 2] << 8) | buf[h + 3]);
    }
    if (h > n)
        return -1;
    uint32_t ssrc = ((uint32_t)buf[8] << 24) | ((uint32_t)buf[9] << 16) | ((uint32_t)buf[10] << 8) | buf[11];
    uint16_t seq = (uint16_t)((buf[2] << 8) | buf[3]);
    TxStream *st = tx_stream(p, ssrc);
    if (st == NULL)
        return -1;
    uint64_t index;
    int32_t delta = estimate_index(st->index, seq, &index);
    if (delta <= 0 && REPLAY_WINDOW - 1 + delta < 0)
        return -1; /* srtp_err_status_replay_old: older than the window */
    if (delta > 0)
        st->index = index;
    uint32_t roc = (uint32_t)(index >> 16);
    unsigned char iv[12] = {0, 0, buf[8], buf[9], buf[10], buf[11], (unsigned char)(roc >> 24),
                            (unsigned char)(roc >> 16), (unsigned char)(roc >> 8), (unsigned char)roc, buf[2], buf[3]};
    for (int i = 0; i < 12; i++)
        iv[i] ^= p->salt[i];
    int outl = 0;
    EVP_CIPHER_CTX *c = p->gcm;
    if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(c, NULL, &outl, buf, h) != 1)
        return -1;
    if (n > h && (EVP_EncryptUpdate(c, buf + h, &outl, buf + h, n - h) != 1 || outl != n - h))
        return -1;
    if (EVP_EncryptFinal_ex(c, buf + n, &outl) != 1 || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, buf + n) != 1)
        return -1;
    *len = n + 16;
    return 0;
}

static int
set_key_gcm(Peer *self, const unsigned char *material)
{
    unsigned char session_key[16];
    if (kdf(material, material + 16, 12, 0x00, session_key, 16) < 0 ||
        kdf(material, material + 16, 12, 0x02, self->salt, 12) < 0)
        return -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c != NULL && EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, NULL, NULL) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
             EVP_EncryptInit_ex(c, NULL, NULL, session_key, NULL) == 1;
    memset(session_key, 0, sizeof session_key);
    if (!ok) {
        EVP_CIPHER_CTX_free(c);
        return -1;
    }
    if (self->gcm != NULL)
        EVP_CIPHER_CTX_free(self->gcm);
    self->gcm = c;
    self->nstreams = 0;
    self->aead = 1;
    return 0;
}
#endif

/* Write the next transport-wide sequence number into the packet buf[0..*len) under p->twcc_id
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01) and record it: over the element when the
 * packet has one, else appended to its one-byte or two-byte block, else in a new one-byte block
 * (buf has room for TWCC_GROWTH more bytes). As hubbub.proto.rtp_ext.stamp_transport_seq. A
 * packet that cannot carry it (unknown profile, malformed block) goes unstamped. */
static void
stamp_twcc(Peer *p, unsigned char *buf, int *len)
{
    int n = *len, id = p->twcc_id;
    int h = 12 + 4 * (buf[0] & 0x0F);
    if (h > n)
        return;
    uint16_t seq = p->twcc_seq;
    unsigned char v0 = (unsigned char)(seq >> 8), v1 = (unsigned char)seq;
    if (!(buf[0] & 0x10)) {
        if (id > 14)
            return;
        memmove(buf + h + 8, buf + h, (size_t)(n - h));
        buf[0] |= 0x10;
        unsigned char block[8] = {0xBE, 0xDE, 0, 1, (unsigned char)((id << 4) | 1), v0, v1, 0};
        memcpy(buf + h, block, 8);
        n += 8;
    } else {
        if (h + 4 > n)
            return;
        int profile = (buf[h] << 8) | buf[h + 1], words = (buf[h + 2] << 8) | buf[h + 3];
        int end = h + 4 + 4 * words, pos = h + 4, found = -1;
        if (end > n)
            return;
        if (profile == 0xBEDE) {
            while (pos < end) {
                int b = buf[pos];
                if (b == 0) {
                    pos++;
                    continue;
                }
                if ((b >> 4) == 15)
                    return;
                int l = (b & 0x0F) + 1;
                if (pos + 1 + l > end)
                    return;
                if ((b >> 4) == id) {
                    if (l != 2)
                        return;
                    found = pos + 1;
                    break;
                }
                pos += 1 + l;
            }
        } else if ((profile & 0xFFF0) == 0x1000) {
            while (pos < end) {
                int i = buf[pos];
                if (i == 0) {
                    pos++;
                    continue;
                }
                if (pos + 2 > end || pos + 2 + buf[pos + 1] > end)
                    return;
                if (i == id) {
                    if (buf[pos + 1] != 2)
                        return;
                    found = pos + 2;
                    break;
                }
                pos += 2 + buf[pos + 1];
            }
        } else
            return;
        if (found >= 0) {
            if (found + 2 > end)
                return;
            buf[found] = v0;
            buf[found + 1] = v1;
        } else {
            if (profile == 0xBEDE && id > 14)
                return;
            memmove(buf + end + 4, buf + end, (size_t)(n - end));
            if (profile == 0xBEDE) {
                buf[end] = (unsigned char)((id << 4) | 1);
                buf[end + 1] = v0;
                buf[end + 2] = v1;
                buf[end + 3] = 0;
            } else {
                buf[end] = (unsigned char)id;
                buf[end + 1] = 2;
                buf[end + 2] = v0;
                buf[end + 3] = v1;
            }
            words++;
            buf[h + 2] = (unsigned char)(words >> 8);
            buf[h + 3] = (unsigned char)words;
            n += 4;
        }
    }
    *len = n;
    p->twcc_seq = (uint16_t)(seq + 1);
    if (p->log == NULL)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int slot = (p->log_head + p->log_len) % TWCC_LOG;
    if (p->log_len == TWCC_LOG)
        p->log_head = (p->log_head + 1) % TWCC_LOG; /* overwrite the oldest */
    else
        p->log_len++;
    TwccRecord *r = &p->log[slot];
    r->seq = seq;
    r->size = (uint16_t)(n > 0xFFFF ? 0xFFFF : n);
    r->cluster = p->probe_cluster;
    r->t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Protect in place (room for the trailer required). 0 ok, -1 refused. */
static inline int
peer_protect(Peer *p, unsigned char *buf, int *len)
{
#ifdef HUBBUB_WITH_OPENSSL
    if (p->aead)
        return gcm_protect(p, buf, len);
#endif
    return srtp_protect(p->ctx, buf, len) == srtp_err_status_ok ? 0 : -1;
}

/* set_key(profile: int, key_salt: bytes): libsrtp profile id (1 = AES_CM_128_HMAC_SHA1_80,
 * 7 = AEAD_AES_128_GCM) and our master key followed by our master salt. */
static PyObject *
Peer_set_key(Peer *self, PyObject *args)
{
    int profile;
    Py_buffer key;
    if (!PyArg_ParseTuple(args, "iy*", &profile, &key))
        return NULL;
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    if (srtp_crypto_policy_set_from_profile_for_rtp(&policy.rtp, (srtp_profile_t)profile) != srtp_err_status_ok ||
        srtp_crypto_policy_set_from_profile_for_rtcp(&policy.rtcp, (srtp_profile_t)profile) != srtp_err_status_ok) {
        PyBuffer_Release(&key);
        PyErr_Format(PyExc_ValueError, "unsupported SRTP profile %d", profile);
        return NULL;
    }
    int need = srtp_profile_get_master_key_length((srtp_profile_t)profile) +
               srtp_profile_get_master_salt_length((srtp_profile_t)profile);
    if (key.len != need) {
        PyBuffer_Release(&key);
        PyErr_Format(PyExc_ValueError, "profile %d needs %d bytes of key + salt", profile, need);
        return NULL;
    }
    unsigned char material[64];
    memcpy(material, key.buf, (size_t)key.len);
    PyBuffer_Release(&key);
#ifdef HUBBUB_WITH_OPENSSL
    if (profile == srtp_profile_aead_aes_128_gcm) {
        int r = set_key_gcm(self, material);
        memset(material, 0, sizeof material);
        if (r < 0) {
            PyErr_SetString(PyExc_ValueError, "AES-128-GCM setup failed");
            return NULL;
        }
        Py_RETURN_NONE;
    }
#endif
    policy.ssrc.type = ssrc_any_outbound;
    policy.key = material;
    policy.window_size = 1024;
    policy.allow_repeat_tx = 1; /* a NACKed packet resent with its own sequence number */
    policy.next = NULL;
    srtp_t ctx = NULL;
    srtp_err_status_t err = srtp_create(&ctx, &policy);
    memset(material, 0, sizeof material);
    if (err != srtp_err_status_ok) {
        PyErr_Format(PyExc_ValueError, "srtp_create failed (%d)", (int)err);
        return NULL;
    }
    if (self->ctx != NULL)
        srtp_dealloc(self->ctx);
    self->ctx = ctx;
    self->aead = 0;
    Py_RETURN_NONE;
}

/* set_udp(fd: int, family: int, ip: bytes (4 or 16), port: int) */
static PyObject *
Peer_set_udp(Peer *self, PyObject *args)
{
    int fd, family, port;
    Py_buffer ip;
    if (!PyArg_ParseTuple(args, "iiy*i", &fd, &family, &ip, &port))
        return NULL;
    if (!peer_keyed(self)) {
        PyBuffer_Release(&ip);
        PyErr_SetString(PyExc_RuntimeError, "no SRTP key yet");
        return NULL;
    }
    memset(&self->addr, 0, sizeof self->addr);
    if (family == AF_INET && ip.len == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&self->addr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        memcpy(&sin->sin_addr, ip.buf, 4);
        self->addrlen = sizeof *sin;
    } else if (family == AF_INET6 && ip.len == 16) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&self->addr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        memcpy(&sin6->sin6_addr, ip.buf, 16);
        self->addrlen = sizeof *sin6;
    } else {
        PyBuffer_Release(&ip);
        PyErr_SetString(PyExc_ValueError, "bad address");
        return NULL;
    }
    PyBuffer_Release(&ip);
    Peer_clear(self);
    self->fd = fd;
    self->mode = 1;
    Py_RETURN_NONE;
}

/* set_python(sendto, addr): datagrams go out through sendto(data: bytes, addr) */
static PyObject *
Peer_set_python(Peer *self, PyObject *args)
{
    PyObject *sendto, *addr;
    if (!PyArg_ParseTuple(args, "OO", &sendto, &addr))
        return NULL;
    if (!peer_keyed(self)) {
        PyErr_SetString(PyExc_RuntimeError, "no SRTP key yet");
        return NULL;
    }
    Py_INCREF(sendto);
    Py_INCREF(addr);
    Peer_clear(self);
    self->py_sendto = sendto;
    self->py_addr = addr;
    self->fd = -1;
    self->mode = 2;
    Py_RETURN_NONE;
}

static PyObject *
Peer_set_down(Peer *self, PyObject *unused)
{
    Peer_clear(self);
    self->fd = -1;
    self->mode = 0;
    Py_RETURN_NONE;
}

/* (packets, bytes, protect_failures, not_connected, send_dropped, send_errors) since the last
 * call; the counters restart at zero. */
static PyObject *
Peer_take_stats(Peer *self, PyObject *unused)
{
    PyObject *r = Py_BuildValue("(KKKKKK)", self->packets, self->bytes, self->protect_failures,
                                self->not_connected, self->send_dropped, self->send_errors);
    if (r != NULL)
        self->packets = self->bytes = self->protect_failures = self->not_connected = self->send_dropped =
            self->send_errors = 0;
    return r;
}

/* Protect buf (room for the trailer required) and send it right away. 0 ok, -1 Python error. */
static int
peer_send_one(Peer *p, unsigned char *buf, int len)
{
    if (p->mode == 0 || !peer_keyed(p)) {
        p->not_connected++;
        return 0;
    }
    if (p->twcc_id)
        stamp_twcc(p, buf, &len);
    if (peer_protect(p, buf, &len) < 0) {
        p->protect_failures++;
        return 0;
    }
    if (p->mode == 1) {
        ssize_t r;
        do {
            r = sendto(p->fd, buf, (size_t)len, 0, (struct sockaddr *)&p->addr, p->addrlen);
        } while (r < 0 && errno == EINTR);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                p->send_dropped++;
            else
                p->send_errors++;
            return 0;
        }
    } else {
        PyObject *data = PyBytes_FromStringAndSize((const char *)buf, len);
        if (data == NULL)
            return -1;
        PyObject *r = PyObject_CallFunctionObjArgs(p->py_sendto, data, p->py_addr, NULL);
        Py_DECREF(data);
        if (r == NULL) {
            PyErr_Clear(); /* a closing TCP link: count it, never raise into the fan-out */
            p->send_errors++;
            return 0;
        }
        Py_DECREF(r);
    }
    p->packets++;
    p->bytes += (unsigned long long)len;
    return 0;
}

/* send_rtp(packet: bytes): the PacketSink face, for RTP the Python slow path writes on a media
 * SSRC this context owns (first packet of an epoch, NACK retransmission without RTX). */
static PyObject *
Peer_send_rtp(Peer *self, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "send_rtp needs bytes");
        return NULL;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    if (n < 12 || n > MAX_PACKET) {
        self->protect_failures++;
        Py_RETURN_NONE;
    }
    unsigned char buf[MAX_PACKET + TWCC_GROWTH + SRTP_MAX_TRAILER_LEN];
    memcpy(buf, PyBytes_AS_STRING(arg), (size_t)n);
    if (peer_send_one(self, buf, (int)n) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* set_twcc(ext_id: int): stamp every RTP packet with a transport-wide sequence number under
 * header extension ext_id (1..255) and record it for take_sent; 0: stop. */
static PyObject *
Peer_set_twcc(Peer *self, PyObject *arg)
{
    long id = PyLong_AsLong(arg);
    if (id == -1 && PyErr_Occurred())
        return NULL;
    if (id < 0 || id > 255) {
        PyErr_SetString(PyExc_ValueError, "extension ID must be 0..255");
        return NULL;
    }
    if (id && self->log == NULL) {
        self->log = PyMem_Calloc(TWCC_LOG, sizeof(TwccRecord));
        if (self->log == NULL)
            return PyErr_NoMemory();
    }
    self->twcc_id = (int)id;
    Py_RETURN_NONE;
}

/* take_sent() -> bytes: the records (TwccRecord, "=HHid" each) of what was stamped since the last
 * call, oldest first. */
static PyObject *
Peer_take_sent(Peer *self, PyObject *unused)
{
    int n = self->log_len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n * (Py_ssize_t)sizeof(TwccRecord));
    if (out == NULL)
        return NULL;
    char *dst = PyBytes_AS_STRING(out);
    int first = n < TWCC_LOG - self->log_head ? n : TWCC_LOG - self->log_head;
    if (n) {
        memcpy(dst, self->log + self->log_head, (size_t)first * sizeof(TwccRecord));
        memcpy(dst + (size_t)first * sizeof(TwccRecord), self->log, (size_t)(n - first) * sizeof(TwccRecord));
    }
    self->log_head = self->log_len = 0;
    return out;
}

static PyObject *
Peer_get_keyed(Peer *self, void *closure)
{
    return PyBool_FromLong(peer_keyed(self));
}

static PyMethodDef Peer_methods[] = {
    {"set_key", (PyCFunction)Peer_set_key, METH_VARARGS, "set_key(profile, key_salt)"},
    {"set_udp", (PyCFunction)Peer_set_udp, METH_VARARGS, "set_udp(fd, family, ip, port)"},
    {"set_python", (PyCFunction)Peer_set_python, METH_VARARGS, "set_python(sendto, addr)"},
    {"set_down", (PyCFunction)Peer_set_down, METH_NOARGS, "drop (and count) until set again"},
    {"take_stats", (PyCFunction)Peer_take_stats, METH_NOARGS, "counters since the last call"},
    {"send_rtp", (PyCFunction)Peer_send_rtp, METH_O, "protect and send one RTP packet"},
    {"set_twcc", (PyCFunction)Peer_set_twcc, METH_O, "stamp transport-wide seqs under this ID (0: off)"},
    {"take_sent", (PyCFunction)Peer_take_sent, METH_NOARGS, "records of what was stamped since the last call"},
    {NULL}};

static PyMemberDef Peer_members[] = {
    {"mode", T_INT, offsetof(Peer, mode), READONLY, "0 drop, 1 UDP, 2 Python sendto"},
    {"probe_cluster", T_INT, offsetof(Peer, probe_cluster), 0, "probe cluster of what is sent now, -1: none"},
    {NULL}};

static PyGetSetDef Peer_getset[] = {
    {"keyed", (getter)Peer_get_keyed, NULL, "True once set_key succeeded", NULL},
    {NULL}};

static PyTypeObject PeerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hubbub.transport.native._fanout.Peer",
    .tp_basicsize = sizeof(Peer),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = Peer_new,
    .tp_dealloc = (destructor)Peer_dealloc,
    .tp_traverse = (traverseproc)Peer_traverse,
    .tp_clear = (inquiry)Peer_clear,
    .tp_methods = Peer_methods,
    .tp_members = Peer_members,
    .tp_getset = Peer_getset,
};

/* ------------------------------------------------------------------------------------------ */
/* Entry                                                                                       */

typedef struct {
    PyObject_HEAD
    Peer *peer;
    unsigned int ssrc;
    int dropping;         /* muted or paused: skip silently */
    int waiting_keyframe; /* drop (count) until a keyframe, which goes to Python */
    int fast;             /* the munger's epoch is open (state 0) */
    int slow;             /* every packet to Python (header extension IDs remapped) */
    long long in_ext;     /* munger: highest extended input seq of the open epoch */
    long long seq_off;    /* munger: extended output seq - extended input seq */
    unsigned int in_ts;   /* munger: that packet's input ts */
    unsigned int ts_off;  /* munger: output ts - input ts, mod 2^32 */
    double last_now;      /* munger: its arrival time */
    unsigned long long packets_sent, bytes_sent, octets_sent, packets_dropped;
    signed char pt_map[128]; /* publisher pt -> subscriber pt, -1: not forwarded */
} Entry;

static PyTypeObject EntryType;

static int
Entry_traverse(Entry *self, visitproc visit, void *arg)
{
    Py_VISIT(self->peer);
    return 0;
}

static int
Entry_clear(Entry *self)
{
    Py_CLEAR(self->peer);
    return 0;
}

static void
Entry_dealloc(Entry *self)
{
    PyObject_GC_UnTrack(self);
    Entry_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Entry(peer: Peer, ssrc: int, pt_map: bytes of 128, 0xFF = not forwarded) */
static PyObject *
Entry_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *peer;
    unsigned int ssrc;
    Py_buffer map;
    if (!PyArg_ParseTuple(args, "O!Iy*", &PeerType, &peer, &ssrc, &map))
        return NULL;
    if (map.len != 128) {
        PyBuffer_Release(&map);
        PyErr_SetString(PyExc_ValueError, "pt_map must be 128 bytes");
        return NULL;
    }
    Entry *self = (Entry *)type->tp_alloc(type, 0);
    if (self == NULL) {
        PyBuffer_Release(&map);
        return NULL;
    }
    Py_INCREF(peer);
    self->peer = (Peer *)peer;
    self->ssrc = ssrc;
    memcpy(self->pt_map, map.buf, 128);
    PyBuffer_Release(&map);
    return (PyObject *)self;
}

static PyMemberDef Entry_members[] = {
    {"peer", T_OBJECT, offsetof(Entry, peer), READONLY, NULL},
    {"ssrc", T_UINT, offsetof(Entry, ssrc), READONLY, NULL},
    {"dropping", T_INT, offsetof(Entry, dropping), 0, NULL},
    {"waiting_keyframe", T_INT, offsetof(Entry, waiting_keyframe), 0, NULL},
    {"slow", T_INT, offsetof(Entry, slow), 0, NULL},
    {NULL}};

/* munger: (in_ext, in_ts, last_now, seq_off, ts_off, open), as Munger.snapshot() / restore() */
static PyObject *
Entry_get_munger(Entry *self, void *closure)
{
    return Py_BuildValue("(LIdLIO)", self->in_ext, self->in_ts, self->last_now, self->seq_off, self->ts_off,
                         self->fast ? Py_True : Py_False);
}

static int
Entry_set_munger(Entry *self, PyObject *value, void *closure)
{
    long long in_ext, seq_off;
    unsigned int in_ts, ts_off;
    double last_now;
    int open;
    if (value == NULL || !PyTuple_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "munger must be a tuple");
        return -1;
    }
    if (!PyArg_ParseTuple(value, "LIdLIp", &in_ext, &in_ts, &last_now, &seq_off, &ts_off, &open))
        return -1;
    self->in_ext = in_ext;
    self->in_ts = in_ts;
    self->last_now = last_now;
    self->seq_off = seq_off;
    self->ts_off = ts_off;
    self->fast = open;
    return 0;
}

/* counters: (packets_sent, bytes_sent, octets_sent, packets_dropped) */
static PyObject *
Entry_get_counters(Entry *self, void *closure)
{
    return Py_BuildValue("(KKKK)", self->packets_sent, self->bytes_sent, self->octets_sent, self->packets_dropped);
}

static int
Entry_set_counters(Entry *self, PyObject *value, void *closure)
{
    unsigned long long a, b, c, d;
    if (value == NULL || !PyTuple_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "counters must be a tuple");
        return -1;
    }
    if (!PyArg_ParseTuple(value, "KKKK", &a, &b, &c, &d))
        return -1;
    self->packets_sent = a;
    self->bytes_sent = b;
    self->octets_sent = c;
    self->packets_dropped = d;
    return 0;
}

static PyGetSetDef Entry_getset[] = {
    {"munger", (getter)Entry_get_munger, (setter)Entry_set_munger,
     "(in_ext, in_ts, last_now, seq_off, ts_off, open): the munger's open epoch", NULL},
    {"counters", (getter)Entry_get_counters, (setter)Entry_set_counters,
     "(packets_sent, bytes_sent, octets_sent, packets_dropped)", NULL},
    {NULL}};

static PyTypeObject EntryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hubbub.transport.native._fanout.Entry",
    .tp_basicsize = sizeof(Entry),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = Entry_new,
    .tp_dealloc = (destructor)Entry_dealloc,
    .tp_traverse = (traverseproc)Entry_traverse,
    .tp_clear = (inquiry)Entry_clear,
    .tp_members = Entry_members,
    .tp_getset = Entry_getset,
};

/* ------------------------------------------------------------------------------------------ */
/* Group                                                                                       */

typedef struct {
    PyObject_HEAD
    PyObject *entries; /* tuple of Entry */
} Group;

/* Scratch space shared by every group (the GIL is held while it is in use, and nothing is left
 * pending in it across a call into Python): BATCH + 1 packet slots, the last for a mode-2 peer. */
static unsigned char *scratch;
static size_t scratch_cap;
static struct mmsghdr msgs[BATCH];
static struct iovec iovs[BATCH];
static Peer *owners[BATCH];

static PyTypeObject GroupType;

static int
Group_traverse(Group *self, visitproc visit, void *arg)
{
    Py_VISIT(self->entries);
    return 0;
}

static int
Group_clear(Group *self)
{
    Py_CLEAR(self->entries);
    return 0;
}

static void
Group_dealloc(Group *self)
{
    PyObject_GC_UnTrack(self);
    Group_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Group_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Group *self = (Group *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->entries = PyTuple_New(0);
    if (self->entries == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *
Group_set_entries(Group *self, PyObject *arg)
{
    if (!PyTuple_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "entries must be a tuple");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(arg); i++) {
        if (!PyObject_TypeCheck(PyTuple_GET_ITEM(arg, i), &EntryType)) {
            PyErr_SetString(PyExc_TypeError, "entries must be Entry objects");
            return NULL;
        }
    }
    Py_INCREF(arg);
    Py_SETREF(self->entries, arg);
    Py_RETURN_NONE;
}

/* Send msgs[0..n) on fd; what cannot be sent is counted on its peer. */
static void
flush_batch(int fd, int n)
{
    int i = 0;
    while (i < n) {
        int r = sendmmsg(fd, msgs + i, (unsigned int)(n - i), 0);
        if (r > 0) {
            for (int k = i; k < i + r; k++) {
                owners[k]->packets++;
                owners[k]->bytes += iovs[k].iov_len;
            }
            i += r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            /* Socket buffer full: the rest of this burst is dropped (no queue behind a
             * non-blocking socket on the hot path); the receivers NACK what they miss. */
            for (int k = i; k < n; k++)
                owners[k]->send_dropped++;
            return;
        }
        owners[i]->send_errors++; /* this datagram only (e.g. EINVAL, EPERM); go on */
        i++;
    }
}

static int
append_index(PyObject **list, Py_ssize_t i)
{
    if (*list == NULL) {
        *list = PyList_New(0);
        if (*list == NULL)
            return -1;
    }
    PyObject *v = PyLong_FromSsize_t(i);
    if (v == NULL)
        return -1;
    int r = PyList_Append(*list, v);
    Py_DECREF(v);
    return r;
}

/* forward(packet, pt, seq, ts, keyframe, payload_size, now) -> None | list[int] */
static PyObject *
Group_forward(Group *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "forward takes 7 arguments");
        return NULL;
    }
    PyObject *packet = args[0];
    if (!PyBytes_Check(packet)) {
        PyErr_SetString(PyExc_TypeError, "packet must be bytes");
        return NULL;
    }
    long pt = PyLong_AsLong(args[1]);
    long seq = PyLong_AsLong(args[2]);
    unsigned long ts = PyLong_AsUnsignedLongMask(args[3]);
    int keyframe = PyObject_IsTrue(args[4]);
    long long payload_size = PyLong_AsLongLong(args[5]);
    double now = PyFloat_AsDouble(args[6]);
    if (PyErr_Occurred())
        return NULL;
    const unsigned char *src = (const unsigned char *)PyBytes_AS_STRING(packet);
    Py_ssize_t plen = PyBytes_GET_SIZE(packet);
    if (plen < 12 || plen > MAX_PACKET || pt < 0 || pt > 127) {
        PyErr_SetString(PyExc_ValueError, "not a forwardable RTP packet");
        return NULL;
    }

    PyObject *entries = self->entries;
    Py_INCREF(entries); /* a Python sendto (mode 2) may replace it meanwhile */
    Py_ssize_t n = PyTuple_GET_SIZE(entries);
    PyObject *slow = NULL;
    size_t stride = ((size_t)plen + TWCC_GROWTH + SRTP_MAX_TRAILER_LEN + 15) & ~(size_t)15;
    size_t need = stride * (BATCH + 1);
    if (scratch_cap < need) {
        unsigned char *nb = PyMem_Realloc(scratch, need);
        if (nb == NULL) {
            Py_DECREF(entries);
            return PyErr_NoMemory();
        }
        scratch = nb;
        scratch_cap = need;
    }
    unsigned char b0 = src[0], b1 = src[1] & 0x80;
    uint16_t seq16 = (uint16_t)seq;
    int batch = 0, batch_fd = -1;

    for (Py_ssize_t i = 0; i < n; i++) {
        Entry *e = (Entry *)PyTuple_GET_ITEM(entries, i);
        if (e->dropping)
            continue;
        if (e->slow) {
            if (append_index(&slow, i) < 0)
                goto error;
            continue;
        }
        if (e->waiting_keyframe) {
            if (!keyframe) {
                e->packets_dropped++;
                continue;
            }
            if (append_index(&slow, i) < 0)
                goto error;
            continue;
        }
        int opt = e->pt_map[pt];
        if (opt < 0) {
            e->packets_dropped++;
            continue;
        }
        uint16_t d = (uint16_t)(seq16 - (uint16_t)e->in_ext);
        if (!e->fast || d == 0 || d >= 0x8000) {
            if (append_index(&slow, i) < 0)
                goto error;
            continue;
        }
        long long ext = e->in_ext + d;
        e->in_ext = ext;
        e->in_ts = (unsigned int)ts;
        e->last_now = now;
        uint16_t oseq = (uint16_t)(ext + e->seq_off);
        uint32_t ots = (uint32_t)(ts + e->ts_off);
        e->packets_sent++;
        e->bytes_sent += (unsigned long long)plen;
        e->octets_sent += (unsigned long long)payload_size;

        Peer *p = e->peer;
        if (p->mode == 0 || !peer_keyed(p)) {
            p->not_connected++;
            continue;
        }
        if (p->mode == 1 && batch && (batch == BATCH || p->fd != batch_fd)) {
            flush_batch(batch_fd, batch);
            batch = 0;
        }
        if (p->mode != 1 && batch) { /* Python code runs next: leave nothing pending */
            flush_batch(batch_fd, batch);
            batch = 0;
        }
        /* Slots 0..BATCH-1 hold the pending batch; slot BATCH is for a mode-2 peer. */
        unsigned char *out = scratch + stride * (size_t)(p->mode == 1 ? batch : BATCH);
        out[0] = b0;
        out[1] = (unsigned char)(b1 | opt);
        out[2] = (unsigned char)(oseq >> 8);
        out[3] = (unsigned char)oseq;
        out[4] = (unsigned char)(ots >> 24);
        out[5] = (unsigned char)(ots >> 16);
        out[6] = (unsigned char)(ots >> 8);
        out[7] = (unsigned char)ots;
        out[8] = (unsigned char)(e->ssrc >> 24);
        out[9] = (unsigned char)(e->ssrc >> 16);
        out[10] = (unsigned char)(e->ssrc >> 8);
        out[11] = (unsigned char)e->ssrc;
        memcpy(out + 12, src + 12, (size_t)plen - 12);
        if (p->mode != 1) {
            if (peer_send_one(p, out, (int)plen) < 0)
                goto error;
            continue;
        }
        int len = (int)plen;
        if (p->twcc_id)
            stamp_twcc(p, out, &len);
        if (peer_protect(p, out, &len) < 0) {
            p->protect_failures++;
            continue;
        }
        struct mmsghdr *m = &msgs[batch];
        iovs[batch].iov_base = out;
        iovs[batch].iov_len = (size_t)len;
        memset(&m->msg_hdr, 0, sizeof m->msg_hdr);
        m->msg_hdr.msg_name = &p->addr;
        m->msg_hdr.msg_namelen = p->addrlen;
        m->msg_hdr.msg_iov = &iovs[batch];
        m->msg_hdr.msg_iovlen = 1;
        owners[batch] = p;
        batch_fd = p->fd;
        batch++;
    }
    if (batch)
        flush_batch(batch_fd, batch);
    Py_DECREF(entries);
    if (slow == NULL)
        Py_RETURN_NONE;
    return slow;

error:
    if (batch)
        flush_batch(batch_fd, batch);
    Py_DECREF(entries);
    Py_XDECREF(slow);
    return NULL;
}

static PyMethodDef Group_methods[] = {
    {"set_entries", (PyCFunction)Group_set_entries, METH_O, "set_entries(tuple of Entry)"},
    {"forward", (PyCFunction)(void (*)(void))Group_forward, METH_FASTCALL,
     "forward(packet, pt, seq, ts, keyframe, payload_size, now) -> None | list of slow indices"},
    {NULL}};

static PyTypeObject GroupType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hubbub.transport.native._fanout.Group",
    .tp_basicsize = sizeof(Group),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = Group_new,
    .tp_dealloc = (destructor)Group_dealloc,
    .tp_traverse = (traverseproc)Group_traverse,
    .tp_clear = (inquiry)Group_clear,
    .tp_methods = Group_methods,
};

/* ------------------------------------------------------------------------------------------ */

static PyObject *
mod_libsrtp_version(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(srtp_get_version_string());
}

static PyObject *
mod_aead_backend(PyObject *self, PyObject *unused)
{
#ifdef HUBBUB_WITH_OPENSSL
    return PyUnicode_FromString("openssl");
#else
    return PyUnicode_FromString("libsrtp");
#endif
}

static PyMethodDef module_methods[] = {
    {"libsrtp_version", mod_libsrtp_version, METH_NOARGS, "the libsrtp version linked"},
    {"aead_backend", mod_aead_backend, METH_NOARGS, "what protects AEAD_AES_128_GCM: openssl or libsrtp"},
    {NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_fanout", "Hubbub native fan-out (rewrite + SRTP + sendmmsg)", -1,
    module_methods};

PyMODINIT_FUNC
PyInit__fanout(void)
{
    if (!srtp_ready) {
        if (srtp_init() != srtp_err_status_ok) {
            PyErr_SetString(PyExc_ImportError, "srtp_init failed");
            return NULL;
        }
        srtp_ready = 1;
    }
    if (PyType_Ready(&PeerType) < 0 || PyType_Ready(&EntryType) < 0 || PyType_Ready(&GroupType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&PeerType);
    Py_INCREF(&EntryType);
    Py_INCREF(&GroupType);
    if (PyModule_AddObject(m, "Peer", (PyObject *)&PeerType) < 0 ||
        PyModule_AddObject(m, "Entry", (PyObject *)&EntryType) < 0 ||
        PyModule_AddObject(m, "Group", (PyObject *)&GroupType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_PACKET", MAX_PACKET) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
