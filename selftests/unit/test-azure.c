// SPDX-License-Identifier: GPL-2.0
/*
 * Azure pieces that need no server: URL parsing, the Shared Key string to
 * sign and its HMAC (expected values computed independently with the
 * openssl command line from the same fixed inputs), Content-MD5, the retry
 * policy, and credential files' permission checks.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "azure-auth.h"
#include "azure-client.h"
#include "azure-url.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"

/* Azurite's published development account key. */
#define DEV_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define DATE "Sun, 22 Nov 2026 23:00:00 GMT"

static void test_urls(void)
{
	struct azure_url u;

	tap_eq(azure_url_parse("azure://acct01/vols/site-a", NULL, false, true, &u), 0,
	       "azure:// with prefix parses");
	tap_ok(!strcmp(u.account, "acct01") && !strcmp(u.container, "vols") &&
	       !strcmp(u.path, "site-a") && !strcmp(u.base, "https://acct01.blob.core.windows.net") &&
	       !strcmp(u.base_path, "") && u.https, "default endpoint is the account's https host");

	tap_eq(azure_url_parse("azure://devstoreaccount1/ct1/", "https://127.0.0.1:10000/devstoreaccount1/",
			       false, true, &u), 0, "azure:// with a path-style endpoint parses");
	tap_ok(!strcmp(u.base, "https://127.0.0.1:10000/devstoreaccount1") &&
	       !strcmp(u.base_path, "/devstoreaccount1") && !strcmp(u.path, ""),
	       "endpoint path is kept for signing; trailing slashes dropped");

	tap_eq(azure_url_parse("https://127.0.0.1:10000/devstoreaccount1/ct1/disks/vol0.vhd", NULL,
			       false, true, &u), 0, "path-style https URL parses");
	tap_ok(!strcmp(u.account, "devstoreaccount1") && !strcmp(u.container, "ct1") &&
	       !strcmp(u.path, "disks/vol0.vhd") &&
	       !strcmp(u.base, "https://127.0.0.1:10000/devstoreaccount1"),
	       "path-style: account from the first path segment");

	tap_eq(azure_url_parse("https://myacct.blob.core.windows.net/ct1/p", NULL, false, true, &u), 0,
	       "virtual-host https URL parses");
	tap_ok(!strcmp(u.account, "myacct") && !strcmp(u.base, "https://myacct.blob.core.windows.net"),
	       "virtual-host: account from the host");

	tap_eq(azure_url_parse("http://127.0.0.1:1/devstoreaccount1/ct1", NULL, false, true, &u),
	       -EPROTO, "plain http refused without allow_http");
	tap_eq(azure_url_parse("http://127.0.0.1:1/devstoreaccount1/ct1", NULL, true, true, &u), 0,
	       "plain http accepted with allow_http");
	tap_eq(azure_url_parse("azure://acct01/ct1", "http://127.0.0.1:1/acct01", false, true, &u),
	       -EPROTO, "plain http endpoint refused without allow_http");
	tap_eq(azure_url_parse("https://a.blob.core.windows.net/ct1/x?sv=1&sig=abc", NULL, false,
			       true, &u), -EINVAL, "a SAS in the URL is refused (secrets only from files)");
	tap_eq(azure_url_parse("azure://Acct/ct1", NULL, false, true, &u), -EINVAL,
	       "uppercase account refused");
	tap_eq(azure_url_parse("azure://acct01/CT1", NULL, false, true, &u), -EINVAL,
	       "uppercase container refused");
	tap_eq(azure_url_parse("azure://acct01/a--b", NULL, false, true, &u), -EINVAL,
	       "double hyphen in container refused");
	tap_eq(azure_url_parse("azure://acct01", NULL, false, true, &u), -EINVAL,
	       "missing container refused");
	tap_eq(azure_url_parse("azure://acct01/ct1/a/../b", NULL, false, true, &u), -EINVAL,
	       "'..' path component refused");
	tap_eq(azure_url_parse("azure://acct01/ct1/a b", NULL, false, true, &u), -EINVAL,
	       "space in path refused");
	tap_eq(azure_url_parse("ftp://x/acct/ct1", NULL, false, true, &u), -EINVAL,
	       "other schemes refused");
	tap_eq(azure_url_parse("https://user@127.0.0.1/acct01/ct1", NULL, false, true, &u), -EINVAL,
	       "user info refused");
	tap_ok(azure_url_is_azure("azure://a/b") && azure_url_is_azure("https://x") &&
	       !azure_url_is_azure("/srv/store") && !azure_url_is_azure("store"),
	       "azure_url_is_azure tells URLs from paths");
}

static void test_signing(void)
{
	const struct azure_hdr put_hdrs[] = {
		{ "x-ms-version", "2021-08-06" },
		{ "x-ms-date", DATE },
		{ "x-ms-blob-type", "BlockBlob" },
	};
	const struct azure_hdr get_hdrs[] = {
		{ "x-ms-version", "2021-08-06" },
		{ "x-ms-date", DATE },
	};
	const char *const q[] = { "restype=container", "prefix=v/", "comp=list", "delimiter=/" };
	struct azure_sign_req put = {
		.method = "PUT", .account = "devstoreaccount1", .path = "/devstoreaccount1/c1/a/b",
		.content_length = 5, .content_md5 = "XUFAKrxLKna5cZ2REBfFkg==",
		.xms = put_hdrs, .nr_xms = 3,
	};
	struct azure_sign_req list = {
		.method = "GET", .account = "devstoreaccount1", .path = "/devstoreaccount1/c1",
		.query = q, .nr_query = 4, .xms = get_hdrs, .nr_xms = 2,
	};
	struct azure_cred cred = { 0 }, wrong = { 0 };
	char sts[1024], auth[AZURE_AUTH_MAX], md5[25];

	tap_eq(azure_string_to_sign(&put, sts, sizeof(sts)), 0, "Put Blob string to sign");
	tap_ok(!strcmp(sts, "PUT\n\n\n5\nXUFAKrxLKna5cZ2REBfFkg==\n\n\n\n\n\n\n\n"
			    "x-ms-blob-type:BlockBlob\nx-ms-date:" DATE "\nx-ms-version:2021-08-06\n"
			    "/devstoreaccount1/devstoreaccount1/c1/a/b"),
	       "Put Blob: 12 standard fields, sorted x-ms headers, account + path");
	tap_eq(azure_string_to_sign(&list, sts, sizeof(sts)), 0, "List Blobs string to sign");
	tap_ok(!strcmp(sts, "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" DATE "\nx-ms-version:2021-08-06\n"
			    "/devstoreaccount1/devstoreaccount1/c1\ncomp:list\ndelimiter:/\n"
			    "prefix:v/\nrestype:container"),
	       "List Blobs: empty Content-Length for no body, sorted query parameters");
	tap_eq(azure_string_to_sign(&list, sts, 40), -ENAMETOOLONG, "short buffer refused");

	tap_eq(azure_cred_set_key(&cred, DEV_KEY, strlen(DEV_KEY)), 0, "base64 account key parses");
	tap_eq(cred.key_len, 64, "the development key is 64 bytes");
	tap_eq(azure_cred_set_key(&wrong, "not base64!", 11), -EINVAL, "malformed key refused");
	azure_string_to_sign(&put, sts, sizeof(sts));
	tap_eq(azure_shared_key_auth(&cred, "devstoreaccount1", sts, auth), 0, "sign Put Blob");
	tap_ok(!strcmp(auth, "SharedKey devstoreaccount1:+o5GN1GvD7pfTnMOvTMUUR2xu+fwSCOpnN7BWnjwZe8="),
	       "Put Blob signature matches openssl dgst -hmac");
	azure_string_to_sign(&list, sts, sizeof(sts));
	azure_shared_key_auth(&cred, "devstoreaccount1", sts, auth);
	tap_ok(!strcmp(auth, "SharedKey devstoreaccount1:5OZtS8HXm2bhHKQ7mFTZ0HDLtoRZU/7BAcwffdlDF8E="),
	       "List Blobs signature matches openssl dgst -hmac");
	cred.key[0] ^= 1;
	azure_shared_key_auth(&cred, "devstoreaccount1", sts, auth);
	tap_ok(strcmp(auth, "SharedKey devstoreaccount1:5OZtS8HXm2bhHKQ7mFTZ0HDLtoRZU/7BAcwffdlDF8E="),
	       "negative control: another key signs differently");

	tap_eq(azure_content_md5("hello", 5, md5), 0, "Content-MD5");
	tap_ok(!strcmp(md5, "XUFAKrxLKna5cZ2REBfFkg=="), "Content-MD5 of \"hello\"");
	azure_http_date(1795388400, sts, sizeof(sts));
	tap_ok(!strcmp(sts, DATE), "x-ms-date format (got %s)", sts);
}

static void test_retry(void)
{
	struct azure_retry r = { .attempts = 6, .base_ms = 250, .max_ms = 8000 };
	bool grows = true;

	for (unsigned int a = 1; a < 10; a++) {
		unsigned int cap = 250u << (a - 1) > 8000 ? 8000 : 250u << (a - 1);

		if (azure_backoff_ms(&r, a, 0) != cap / 2 || azure_backoff_ms(&r, a, UINT32_MAX) > cap ||
		    azure_backoff_ms(&r, a, UINT32_MAX) < cap / 2)
			grows = false;
	}
	tap_ok(grows, "backoff doubles from 250 ms to an 8 s cap, jitter within [d/2, d]");
	tap_ok(azure_backoff_ms(&r, 3, 1) != azure_backoff_ms(&r, 3, 77), "jitter varies the delay");
	tap_ok(azure_retryable(0, 503) && azure_retryable(0, 500) && azure_retryable(0, 429) &&
	       azure_retryable(0, 408) && azure_retryable(-ETIMEDOUT, 0) &&
	       azure_retryable(-ECONNREFUSED, 0) && azure_retryable(-EIO, 0),
	       "timeouts, refused connections, 5xx, 429 and 408 are retried");
	tap_ok(!azure_retryable(0, 403) && !azure_retryable(0, 404) && !azure_retryable(0, 400) &&
	       !azure_retryable(0, 201) && !azure_retryable(-EPROTO, 0) && !azure_retryable(-EFBIG, 0),
	       "authentication, absence, bad requests, TLS failures and oversize answers are not");
	tap_eq(azure_status_errno(403), -EACCES, "403 is -EACCES");
	tap_eq(azure_status_errno(404), -ENOENT, "404 is -ENOENT");
	tap_eq(azure_status_errno(201), 0, "201 is success");
}

static void test_creds(void)
{
	struct remote_opts ro = { 0 };
	struct azure_cred c;
	FILE *f;

	test_dir_setup("azure");
	f = fopen("key", "w");
	fprintf(f, "%s\n", DEV_KEY);
	fclose(f);
	chmod("key", 0644);
	ro.key_file = "key";
	tap_eq(azure_cred_load(&ro, &c), -EPERM, "a key file readable by others is refused");
	chmod("key", 0600);
	tap_eq(azure_cred_load(&ro, &c), 0, "a 0600 key file loads");
	tap_ok(c.shared_key && c.key_len == 64, "it holds the shared key");
	azure_cred_wipe(&c);
	f = fopen("sas", "w");
	fprintf(f, "?sv=2021-08-06&ss=b&srt=sco&sp=rwdlc&se=2030-01-01T00%%3A00%%3A00Z&sig=AbC%%3D\n");
	fclose(f);
	chmod("sas", 0600);
	ro.sas_file = "sas";
	tap_eq(azure_cred_load(&ro, &c), -EINVAL, "key and SAS together are refused");
	ro.key_file = NULL;
	tap_eq(azure_cred_load(&ro, &c), 0, "a 0600 SAS file loads");
	tap_ok(!c.shared_key && !strncmp(c.sas, "sv=", 3), "the leading '?' is dropped");
	ro.sas_file = NULL;
	tap_eq(azure_cred_load(&ro, &c), -EINVAL, "no credentials refused");
}

int main(void)
{
	test_quiet_logs();
	test_urls();
	test_signing();
	test_retry();
	test_creds();
	return tap_done();
}
