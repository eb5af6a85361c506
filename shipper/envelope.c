// SPDX-License-Identifier: GPL-2.0
/*
 * Envelope sealing and opening (FORMAT.md, "Envelope").  Every object gets
 * its own HKDF subkey from a random salt, so the fixed zero GCM nonce never
 * repeats under one key.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "envelope.h"
#include "le.h"
#include "log.h"

#define ENV_CIPHER_AES256GCM_HKDF	1
#define ENV_SALT_BYTES			32
#define ENV_NONCE_BYTES			12

/* Header offsets (FORMAT.md). */
#define OFF_MAGIC	0
#define OFF_TYPE	6
#define OFF_VERSION	7
#define OFF_CODEC	8
#define OFF_CIPHER	9
#define OFF_RSVD1	10
#define OFF_HDRLEN	12
#define OFF_KEYID	16
#define OFF_VOLID	24
#define OFF_CYCLE	40
#define OFF_SEGMENT	48
#define OFF_RSVD2	52
#define OFF_PAYLEN	56
#define OFF_SALT	64
#define OFF_RSVD3	96

static const char env_magic[6] = { 'C', 'B', 'T', 'S', 'H', 'P' };
static const char hkdf_info[] = "cbtship v1 object";

/* Chunk for EVP_*Update, whose length argument is an int. */
#define GCM_CHUNK	(1u << 30)

static int ossl_fail(const char *what)
{
	unsigned long e = ERR_get_error();

	log_err("%s failed: %s", what, e ? ERR_error_string(e, NULL) : "unknown OpenSSL error");
	ERR_clear_error();
	return -EIO;
}

static int derive_subkey(const struct cbt_key *key, const uint8_t *salt, uint8_t sub[32])
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx;
	OSSL_PARAM params[5];
	int ret = 0;

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf)
		return ossl_fail("fetching HKDF");
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!kctx)
		return ossl_fail("creating an HKDF context");

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key->bytes,
						      CBT_KEY_BYTES);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
						      ENV_SALT_BYTES);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)hkdf_info,
						      strlen(hkdf_info));
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, sub, 32, params) != 1)
		ret = ossl_fail("HKDF-SHA256");
	EVP_KDF_CTX_free(kctx);
	return ret;
}

/* A cipher context keyed for one object, the header (AAD) already in. */
static int gcm_begin(bool enc, const uint8_t sub[32], const uint8_t *aad, EVP_CIPHER_CTX **out)
{
	static const uint8_t nonce[ENV_NONCE_BYTES];
	EVP_CIPHER_CTX *c;
	int outl;

	*out = NULL;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return ossl_fail("creating a cipher context");
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, ENV_NONCE_BYTES, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, sub, nonce, enc) != 1 ||
	    EVP_CipherUpdate(c, NULL, &outl, aad, ENV_HDR_BYTES) != 1) {
		EVP_CIPHER_CTX_free(c);
		return ossl_fail("AES-256-GCM setup");
	}
	*out = c;
	return 0;
}

/* The next len bytes of the object's stream: from in (anywhere) to out. */
static int gcm_update(EVP_CIPHER_CTX *c, const uint8_t *in, size_t len, uint8_t *out)
{
	int outl;

	for (size_t done = 0; done < len;) {
		int n = (int)(len - done > GCM_CHUNK ? GCM_CHUNK : len - done);

		if (EVP_CipherUpdate(c, out + done, &outl, in + done, n) != 1)
			return ossl_fail("AES-256-GCM");
		done += n;
	}
	return 0;
}

/*
 * End one pass: the tag out (encrypt) or checked (decrypt).  Returns 0,
 * -EBADMSG if the tag does not match, or -EIO.
 */
static int gcm_end(EVP_CIPHER_CTX *c, bool enc, uint8_t *out_end, uint8_t tag[ENV_TAG_BYTES])
{
	int outl;

	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, ENV_TAG_BYTES, tag) != 1)
		return ossl_fail("AES-256-GCM set tag");
	if (EVP_CipherFinal_ex(c, out_end, &outl) != 1) {
		if (enc)
			return ossl_fail("AES-256-GCM final");
		ERR_clear_error();
		return -EBADMSG;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, ENV_TAG_BYTES, tag) != 1)
		return ossl_fail("AES-256-GCM get tag");
	return 0;
}

/*
 * One AES-256-GCM pass over pieces laid end to end in the stream: encrypt
 * (tag out) or decrypt (tag in, checked) into out, contiguous.
 */
static int gcm_run(bool enc, const uint8_t sub[32], const uint8_t *aad,
		   const struct env_piece *pieces, size_t n, uint8_t *out,
		   uint8_t tag[ENV_TAG_BYTES])
{
	EVP_CIPHER_CTX *c;
	size_t at = 0;
	int ret;

	ret = gcm_begin(enc, sub, aad, &c);
	for (size_t i = 0; i < n && !ret; i++) {
		ret = gcm_update(c, pieces[i].src, pieces[i].len, out + at);
		at += pieces[i].len;
	}
	if (!ret)
		ret = gcm_end(c, enc, out + at, tag);
	EVP_CIPHER_CTX_free(c);
	return ret;
}

static void header_encode(uint8_t *h, const struct cbt_key *key, const struct env_meta *m,
			  uint64_t payload_len, const uint8_t *salt)
{
	memset(h, 0, ENV_HDR_BYTES);
	memcpy(h + OFF_MAGIC, env_magic, sizeof(env_magic));
	h[OFF_TYPE] = (uint8_t)m->type;
	h[OFF_VERSION] = m->version ? m->version : ENV_VERSION;
	h[OFF_CODEC] = m->codec;
	h[OFF_CIPHER] = ENV_CIPHER_AES256GCM_HKDF;
	put_le32(h + OFF_HDRLEN, ENV_HDR_BYTES);
	memcpy(h + OFF_KEYID, key->id, CBT_KEY_ID_BYTES);
	memcpy(h + OFF_VOLID, m->volume_id, ENV_ID_BYTES);
	put_le64(h + OFF_CYCLE, m->cycle);
	put_le32(h + OFF_SEGMENT, m->segment);
	put_le64(h + OFF_PAYLEN, payload_len);
	memcpy(h + OFF_SALT, salt, ENV_SALT_BYTES);
}

static const char *type_name(unsigned int type)
{
	switch (type) {
	case ENV_VOLUME: return "volume header";
	case ENV_SEGMENT: return "segment";
	case ENV_MANIFEST: return "manifest";
	case ENV_RECORD: return "record";
	case ENV_HASH_INDEX: return "hash list index";
	case ENV_HASH_PART: return "hash list part";
	default: return "unknown object";
	}
}

bool envelope_version_known(unsigned int type, unsigned int version)
{
	return version == ENV_VERSION || (type == ENV_MANIFEST && version == ENV_VERSION_MANIFEST);
}

int envelope_seal_pieces(const struct cbt_key *key, const struct env_meta *meta,
			 const struct env_piece *pieces, size_t n, void *out)
{
	uint8_t *h = out, *ct = h + ENV_HDR_BYTES;
	uint8_t salt[ENV_SALT_BYTES], sub[32];
	size_t len = 0;
	int ret;

	if (meta->version && !envelope_version_known(meta->type, meta->version)) {
		log_err("cannot seal a %s of format version %u: this cbtship does not know it",
			type_name(meta->type), meta->version);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		len += pieces[i].len;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return ossl_fail("getting a random salt");
	header_encode(h, key, meta, len, salt);
	ret = derive_subkey(key, salt, sub);
	if (ret)
		return ret;
	ret = gcm_run(true, sub, h, pieces, n, ct, ct + len);
	OPENSSL_cleanse(sub, sizeof(sub));
	return ret;
}

int envelope_seal(const struct cbt_key *key, const struct env_meta *meta,
		  const void *payload, size_t len, void *out)
{
	struct env_piece one = { .src = payload, .len = len };

	return envelope_seal_pieces(key, meta, &one, 1, out);
}

/* Checks the header says what the caller expects: no replay, move or mix-up. */
static int header_check_place(const char *what, const uint8_t *h, const struct env_meta *expect,
			      bool any_volume)
{
	uint64_t cycle = get_le64(h + OFF_CYCLE);
	uint32_t segment = get_le32(h + OFF_SEGMENT);

	if (h[OFF_TYPE] != expect->type) {
		log_err("%s is a %s (type %u) where a %s was expected: the store was rearranged or damaged",
			what, type_name(h[OFF_TYPE]), h[OFF_TYPE], type_name(expect->type));
		return -EBADMSG;
	}
	if (!any_volume && memcmp(h + OFF_VOLID, expect->volume_id, ENV_ID_BYTES)) {
		log_err("%s belongs to another volume (its volume id differs): objects were copied between volumes or stores",
			what);
		return -EBADMSG;
	}
	if (cycle != expect->cycle || segment != expect->segment) {
		log_err("%s says it is cycle %llu segment %u, but it sits where cycle %llu segment %u belongs: objects were moved or replayed",
			what, (unsigned long long)cycle, segment,
			(unsigned long long)expect->cycle, expect->segment);
		return -EBADMSG;
	}
	return 0;
}

int envelope_open(const struct cbt_key *key, const char *what,
		  const void *obj, size_t len,
		  const struct env_meta *expect, bool any_volume,
		  struct env_meta *got, void *out, size_t *out_len)
{
	const uint8_t *h = obj;
	uint8_t sub[32], tag[ENV_TAG_BYTES];
	struct env_piece ct;
	uint64_t payload_len;
	int ret;

	if (len < ENV_OVERHEAD) {
		log_err("%s is truncated (%zu bytes; an object has at least %d)",
			what, len, ENV_OVERHEAD);
		return -EBADMSG;
	}
	if (memcmp(h + OFF_MAGIC, env_magic, sizeof(env_magic))) {
		log_err("%s is not a cbtship object (bad magic)", what);
		return -EBADMSG;
	}
	if (!envelope_version_known(h[OFF_TYPE], h[OFF_VERSION])) {
		log_err("object %s (a %s) has format version %u; this cbtship reads version %d%s, upgrade cbtship",
			what, type_name(h[OFF_TYPE]), h[OFF_VERSION], ENV_VERSION,
			h[OFF_TYPE] == ENV_MANIFEST ? " and 2" : "");
		return -EPROTO;
	}
	if (get_le32(h + OFF_HDRLEN) != ENV_HDR_BYTES) {
		log_err("%s has a header length of %u bytes, not %d: it is damaged",
			what, get_le32(h + OFF_HDRLEN), ENV_HDR_BYTES);
		return -EBADMSG;
	}
	if (h[OFF_CIPHER] != ENV_CIPHER_AES256GCM_HKDF) {
		log_err("%s uses cipher %u; this cbtship knows cipher %d only, upgrade cbtship",
			what, h[OFF_CIPHER], ENV_CIPHER_AES256GCM_HKDF);
		return -EPROTO;
	}
	if (memcmp(h + OFF_KEYID, key->id, CBT_KEY_ID_BYTES)) {
		char a[2 * CBT_KEY_ID_BYTES + 1], b[2 * CBT_KEY_ID_BYTES + 1];

		key_id_hex(h + OFF_KEYID, a);
		key_id_hex(key->id, b);
		log_err("%s was written with key id %s, but the key file has key id %s: use the key the source used",
			what, a, b);
		return -EKEYREJECTED;
	}
	payload_len = get_le64(h + OFF_PAYLEN);
	if (payload_len != len - ENV_OVERHEAD) {
		log_err("%s is %zu bytes but its header says %llu bytes of payload: it is truncated or damaged",
			what, len, (unsigned long long)payload_len);
		return -EBADMSG;
	}
	if (get_le16(h + OFF_RSVD1) || get_le32(h + OFF_RSVD2) ||
	    !all_zero(h + OFF_RSVD3, ENV_HDR_BYTES - OFF_RSVD3)) {
		log_err("%s has non-zero reserved header fields: it is damaged", what);
		return -EBADMSG;
	}
	ret = header_check_place(what, h, expect, any_volume);
	if (ret)
		return ret;

	ret = derive_subkey(key, h + OFF_SALT, sub);
	if (ret)
		return ret;
	memcpy(tag, h + len - ENV_TAG_BYTES, ENV_TAG_BYTES);
	ct.src = h + ENV_HDR_BYTES;
	ct.len = payload_len;
	ret = gcm_run(false, sub, h, &ct, 1, out, tag);
	OPENSSL_cleanse(sub, sizeof(sub));
	if (ret) {
		OPENSSL_cleanse(out, payload_len);
		if (ret == -EBADMSG)
			log_err("%s failed authentication: it was modified or damaged", what);
		return ret;
	}
	got->type = h[OFF_TYPE];
	got->version = h[OFF_VERSION];
	got->codec = h[OFF_CODEC];
	memcpy(got->volume_id, h + OFF_VOLID, ENV_ID_BYTES);
	got->cycle = get_le64(h + OFF_CYCLE);
	got->segment = get_le32(h + OFF_SEGMENT);
	*out_len = payload_len;
	return 0;
}
