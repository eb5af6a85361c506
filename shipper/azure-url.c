// SPDX-License-Identifier: GPL-2.0
/* Parsing Azure Blob Storage store and page-blob URLs (see azure-url.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "azure-url.h"
#include "log.h"

#define DEFAULT_SUFFIX	".blob.core.windows.net"

#define url_err(quiet, ...) do { if (!(quiet)) log_err(__VA_ARGS__); } while (0)

bool azure_url_is_azure(const char *spec)
{
	return !strncmp(spec, "azure://", 8) || !strncmp(spec, "https://", 8) ||
	       !strncmp(spec, "http://", 7);
}

/* Account names: 3 to 24 lowercase letters and digits. */
static bool account_ok(const char *s, size_t len)
{
	if (len < 3 || len > AZURE_ACCOUNT_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Container names: 3 to 63 of [a-z0-9-], starting and ending alnum, no "--". */
static bool container_ok(const char *s, size_t len)
{
	if (len < 3 || len > AZURE_CONTAINER_MAX || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!islower(c) && !isdigit(c) && c != '-')
			return false;
		if (c == '-' && s[i + 1] == '-')
			return false;
	}
	return true;
}

/*
 * Blob names we write: letters, digits, '.', '_', '-' and '/' separators
 * between non-empty components that are not "." or ".." (so no URL escaping
 * is needed and the signed path is the sent path).
 */
bool azure_name_ok(const char *name)
{
	const char *p = name;

	if (!*name)
		return false;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);

		if (!n || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		for (const char *q = p; q < end; q++)
			if (!isalnum((unsigned char)*q) && *q != '.' && *q != '_' && *q != '-')
				return false;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			return false;
	}
	return true;
}

/* Split "scheme://authority/rest": checks the scheme and the authority. */
static int split_http(const char *url, bool allow_http, bool quiet, bool *https,
		      const char **auth, size_t *auth_len, const char **rest)
{
	const char *p;

	if (!strncmp(url, "https://", 8)) {
		*https = true;
		p = url + 8;
	} else if (!strncmp(url, "http://", 7)) {
		if (!allow_http) {
			url_err(quiet, "%s: plain http is refused (no TLS); use https, or --allow-http for a test endpoint",
				url);
			return -EPROTO;
		}
		*https = false;
		p = url + 7;
	} else {
		url_err(quiet, "%s: expected an https:// URL", url);
		return -EINVAL;
	}
	*auth = p;
	*auth_len = strcspn(p, "/");
	*rest = p + *auth_len;
	if (!*auth_len) {
		url_err(quiet, "%s: no host in the URL", url);
		return -EINVAL;
	}
	/* host[:port], or [v6]:port; no user info, no query, no fragment. */
	for (size_t i = 0; i < *auth_len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']') {
			url_err(quiet, "%s: unexpected character '%c' in the host", url,
				isprint(c) ? c : '?');
			return -EINVAL;
		}
	}
	if (strpbrk(*rest, "?#")) {
		url_err(quiet, "%s: no query or fragment allowed (a SAS token goes in a file, --azure-sas-file)",
			url);
		return -EINVAL;
	}
	return 0;
}

/* Path style (Azurite, private endpoints): the host is an IP address or localhost. */
static bool path_style_host(const char *auth, size_t len)
{
	size_t hlen = auth[0] == '[' ? len : strcspn(auth, ":");

	if (hlen > len)
		hlen = len;
	if (auth[0] == '[')
		return true;
	if (hlen == 9 && !strncmp(auth, "localhost", 9))
		return true;
	for (size_t i = 0; i < hlen; i++)
		if (!isdigit((unsigned char)auth[i]) && auth[i] != '.')
			return false;
	return true;
}

/* Fill container and path from "CONTAINER[/PATH]" (no leading '/'). */
static int set_container_path(const char *spec, const char *s, bool quiet, struct azure_url *u)
{
	size_t clen = strcspn(s, "/");
	const char *path = s[clen] ? s + clen + 1 : "";
	size_t plen = strlen(path);

	if (!container_ok(s, clen)) {
		url_err(quiet, "%s: invalid container name \"%.*s\" (3-63 lowercase letters, digits and single hyphens)",
			spec, (int)(clen > 80 ? 80 : clen), s);
		return -EINVAL;
	}
	memcpy(u->container, s, clen);
	u->container[clen] = '\0';
	while (plen && path[plen - 1] == '/')
		plen--;
	if (plen >= sizeof(u->path)) {
		url_err(quiet, "%s: the path after the container is too long", spec);
		return -EINVAL;
	}
	memcpy(u->path, path, plen);
	u->path[plen] = '\0';
	if (plen && !azure_name_ok(u->path)) {
		url_err(quiet, "%s: invalid path \"%s\" (letters, digits, '.', '_', '-' and '/')",
			spec, u->path);
		return -EINVAL;
	}
	return 0;
}

static int set_base(struct azure_url *u, const char *spec, bool quiet, bool https,
		    const char *auth, size_t auth_len, const char *path, size_t path_len)
{
	int n = snprintf(u->base, sizeof(u->base), "%s://%.*s%.*s", https ? "https" : "http",
			 (int)auth_len, auth, (int)path_len, path);

	if (n < 0 || (size_t)n >= sizeof(u->base)) {
		url_err(quiet, "%s: endpoint URL too long", spec);
		return -EINVAL;
	}
	u->https = https;
	u->base_path = u->base + (n - (int)path_len);
	return 0;
}

static int parse_endpoint(const char *endpoint, bool allow_http, bool quiet, struct azure_url *u)
{
	const char *auth, *rest;
	size_t auth_len, rlen;
	bool https;
	int ret;

	ret = split_http(endpoint, allow_http, quiet, &https, &auth, &auth_len, &rest);
	if (ret)
		return ret;
	rlen = strlen(rest);
	while (rlen && rest[rlen - 1] == '/')
		rlen--;
	for (size_t i = 0; i < rlen; i++) {
		unsigned char c = (unsigned char)rest[i];

		if (!isalnum(c) && c != '/' && c != '.' && c != '_' && c != '-') {
			url_err(quiet, "%s: unexpected character in the endpoint's path", endpoint);
			return -EINVAL;
		}
	}
	return set_base(u, endpoint, quiet, https, auth, auth_len, rest, rlen);
}

int azure_url_parse(const char *spec, const char *endpoint, bool allow_http, bool quiet,
		    struct azure_url *u)
{
	const char *auth, *rest, *s;
	size_t auth_len, alen;
	bool https;
	int ret;

	memset(u, 0, sizeof(*u));
	u->base_path = u->base;
	if (!strncmp(spec, "azure://", 8)) {
		s = spec + 8;
		alen = strcspn(s, "/");
		if (!account_ok(s, alen)) {
			url_err(quiet, "%s: invalid account name \"%.*s\" (3-24 lowercase letters and digits)",
				spec, (int)(alen > 80 ? 80 : alen), s);
			return -EINVAL;
		}
		memcpy(u->account, s, alen);
		if (!s[alen]) {
			url_err(quiet, "%s: no container; use azure://ACCOUNT/CONTAINER[/PREFIX]", spec);
			return -EINVAL;
		}
		if (strpbrk(s, "?#")) {
			url_err(quiet, "%s: no query or fragment allowed (a SAS token goes in a file, --azure-sas-file)",
				spec);
			return -EINVAL;
		}
		ret = set_container_path(spec, s + alen + 1, quiet, u);
		if (ret)
			return ret;
		if (endpoint)
			return parse_endpoint(endpoint, allow_http, quiet, u);
		ret = snprintf(u->base, sizeof(u->base), "https://%s" DEFAULT_SUFFIX, u->account);
		u->https = true;
		u->base_path = u->base + ret;
		return 0;
	}

	ret = split_http(spec, allow_http, quiet, &https, &auth, &auth_len, &rest);
	if (ret)
		return ret;
	if (*rest == '/')
		rest++;
	if (path_style_host(auth, auth_len)) {
		alen = strcspn(rest, "/");
		if (!account_ok(rest, alen) || !rest[alen]) {
			url_err(quiet, "%s: expected https://HOST[:PORT]/ACCOUNT/CONTAINER[/PATH]", spec);
			return -EINVAL;
		}
		memcpy(u->account, rest, alen);
		ret = set_base(u, spec, quiet, https, auth, auth_len, rest - 1, alen + 1);
		if (ret)
			return ret;
		rest += alen + 1;
	} else {
		alen = strcspn(auth, ".:");
		if (!account_ok(auth, alen)) {
			url_err(quiet, "%s: the host does not start with a valid account name", spec);
			return -EINVAL;
		}
		memcpy(u->account, auth, alen);
		ret = set_base(u, spec, quiet, https, auth, auth_len, "", 0);
		if (ret)
			return ret;
	}
	ret = set_container_path(spec, rest, quiet, u);
	if (ret)
		return ret;
	/* An explicit endpoint overrides where requests go, not the names. */
	if (endpoint)
		return parse_endpoint(endpoint, allow_http, quiet, u);
	return 0;
}
