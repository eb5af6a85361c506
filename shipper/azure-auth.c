// SPDX-License-Identifier: GPL-2.0
/* Azure Storage Shared Key signing and SAS tokens (see azure-auth.h). */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "azure-auth.h"
#include "log.h"

#define CRED_FILE_MAX	4096

/* Read a small secret file that only its owner may read or write. */
static int read_secret(const char *path, const char *what, char *buf, size_t cap, size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		log_err("cannot open the %s file %s: %s", what, path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("the %s file %s is not a regular file", what, path);
		ret = -EINVAL;
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_err("the %s file %s is %s by others (mode %04o); run: chmod 600 %s",
			what, path, st.st_mode & (S_IRGRP | S_IROTH) ? "readable" : "writable",
			(unsigned int)(st.st_mode & 07777), path);
		ret = -EPERM;
		goto out;
	}
	n = read(fd, buf, cap - 1);
	if (n < 0) {
		ret = -errno;
		log_err("cannot read the %s file %s: %s", what, path, strerror(-ret));
		goto out;
	}
	if ((size_t)n == cap - 1) {
		log_err("the %s file %s is too large to be one", what, path);
		ret = -EINVAL;
		goto out;
	}
	while (n && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	*len = (size_t)n;
out:
	close(fd);
	return ret;
}

int azure_cred_set_key(struct azure_cred *c, const char *b64, size_t len)
{
	unsigned char tmp[AZURE_KEY_MAX * 2];
	int n;

	if (!len || len % 4 || len / 4 * 3 > sizeof(tmp))
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)b64[i]) && b64[i] != '+' && b64[i] != '/' &&
		    b64[i] != '=')
			return -EINVAL;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)len);
	if (n < 0)
		return -EINVAL;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (b64[len - 1] == '=')
		n--;
	if (b64[len - 2] == '=')
		n--;
	if (n < 16 || n > AZURE_KEY_MAX) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return -EINVAL;
	}
	memcpy(c->key, tmp, (size_t)n);
	c->key_len = (size_t)n;
	c->shared_key = true;
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return 0;
}

int azure_cred_load(const struct remote_opts *ro, struct azure_cred *c)
{
	char buf[CRED_FILE_MAX];
	size_t len = 0;
	int ret;

	memset(c, 0, sizeof(*c));
	if (!ro || (!ro->key_file == !ro->sas_file)) {
		log_err("Azure storage needs exactly one of --azure-key-file (account key) and --azure-sas-file (SAS token)");
		return -EINVAL;
	}
	if (ro->key_file) {
		ret = read_secret(ro->key_file, "Azure account key", buf, sizeof(buf), &len);
		if (!ret) {
			ret = azure_cred_set_key(c, buf, len);
			if (ret)
				log_err("the Azure account key file %s does not hold a base64 account key; copy the key from the storage account's access keys",
					ro->key_file);
		}
	} else {
		ret = read_secret(ro->sas_file, "Azure SAS token", buf, sizeof(buf), &len);
		if (!ret) {
			const char *p = buf[0] == '?' ? buf + 1 : buf;
			size_t n = strlen(p);

			ret = n && n < sizeof(c->sas) && strstr(p, "sig=") ? 0 : -EINVAL;
			for (size_t i = 0; !ret && i < n; i++)
				if (!isgraph((unsigned char)p[i]) || p[i] == '#')
					ret = -EINVAL;
			if (ret)
				log_err("the SAS token file %s does not hold a SAS token (sv=...&sig=...)",
					ro->sas_file);
			else
				memcpy(c->sas, p, n + 1);
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return ret;
}

void azure_cred_wipe(struct azure_cred *c)
{
	OPENSSL_cleanse(c, sizeof(*c));
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool overflow;
};

__attribute__((format(printf, 2, 3)))
static void sb_add(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(sb->p + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sb->cap - sb->len)
		sb->overflow = true;
	else
		sb->len += (size_t)n;
}

static int cmp_hdr(const void *a, const void *b)
{
	return strcmp(((const struct azure_hdr *)a)->name, ((const struct azure_hdr *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

#define SIGN_MAX_ITEMS	16

int azure_string_to_sign(const struct azure_sign_req *r, char *out, size_t cap)
{
	struct azure_hdr h[SIGN_MAX_ITEMS];
	const char *q[SIGN_MAX_ITEMS];
	struct sbuf sb = { .p = out, .cap = cap };

	if (r->nr_xms > SIGN_MAX_ITEMS || r->nr_query > SIGN_MAX_ITEMS || !cap)
		return -EINVAL;
	out[0] = '\0';
	/* Version 2015-02-21 and later: an empty Content-Length for zero bytes. */
	sb_add(&sb, "%s\n\n\n", r->method);
	if (r->content_length)
		sb_add(&sb, "%llu", (unsigned long long)r->content_length);
	sb_add(&sb, "\n%s\n%s\n\n\n\n\n\n%s\n", r->content_md5 ? r->content_md5 : "",
	       r->content_type ? r->content_type : "", r->range ? r->range : "");
	if (r->nr_xms)
		memcpy(h, r->xms, r->nr_xms * sizeof(*h));
	qsort(h, r->nr_xms, sizeof(*h), cmp_hdr);
	for (unsigned int i = 0; i < r->nr_xms; i++)
		sb_add(&sb, "%s:%s\n", h[i].name, h[i].value);
	sb_add(&sb, "/%s%s", r->account, r->path);
	/* Our parameter names are lowercase and single-valued: sorting the pairs sorts the names. */
	if (r->nr_query)
		memcpy(q, r->query, r->nr_query * sizeof(*q));
	qsort(q, r->nr_query, sizeof(*q), cmp_str);
	for (unsigned int i = 0; i < r->nr_query; i++) {
		const char *eq = strchr(q[i], '=');

		if (!eq)
			return -EINVAL;
		sb_add(&sb, "\n%.*s:%s", (int)(eq - q[i]), q[i], eq + 1);
	}
	return sb.overflow ? -ENAMETOOLONG : 0;
}

int azure_shared_key_auth(const struct azure_cred *c, const char *account,
			  const char *string_to_sign, char *out)
{
	unsigned char mac[32];
	unsigned int mac_len = sizeof(mac);
	char sig[48];

	if (!c->shared_key || strlen(account) > 24)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), c->key, (int)c->key_len, (const unsigned char *)string_to_sign,
		  strlen(string_to_sign), mac, &mac_len))
		return -EIO;
	EVP_EncodeBlock((unsigned char *)sig, mac, (int)mac_len);
	snprintf(out, AZURE_AUTH_MAX, "SharedKey %s:%s", account, sig);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

void azure_http_date(time_t t, char *out, size_t cap)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	/* Not strftime: the names must be English whatever the locale. */
	gmtime_r(&t, &tm);
	snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int azure_content_md5(const void *buf, size_t len, char out[25])
{
	unsigned char md[16];
	unsigned int md_len = sizeof(md);

	if (!EVP_Digest(buf, len, md, &md_len, EVP_md5(), NULL))
		return -EIO;
	EVP_EncodeBlock((unsigned char *)out, md, 16);
	return 0;
}
