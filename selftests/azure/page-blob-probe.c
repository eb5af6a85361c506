// SPDX-License-Identifier: GPL-2.0
/*
 * Drives the page-blob replica through its ops, as apply will:
 *
 *   page-blob-probe URL FILE
 *
 * with AZ_ENDPOINT, AZ_KEY_FILE, AZ_CA_FILE in the environment.  Creates the
 * blob with FILE's size, writes FILE in mixed chunk sizes (4 KiB to 6 MiB,
 * so requests split at 4 MiB), reads it back, takes a snapshot, overwrites
 * the first 2 MiB (zeros, then data), and prints, one per line:
 *   created=0|1 size=N
 *   second-open=ERRNO   a second open while the first holds the lease
 *   current=SHA256   of the blob read back before the snapshot
 *   snapshot=ID
 *   snapshot-data=SHA256   of the snapshot, read with Get Blob ?snapshot=ID
 *   after=SHA256     of the blob after the overwrite (FILE.after holds the
 *                    expected bytes)
 *   reopen created=0 size=N
 *   unaligned=ERRNO
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "azure-client.h"
#include "log.h"
#include "replica-azure.h"

static void hex_sha256(const void *buf, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n;

	EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static int read_all(struct replica *r, size_t len, char out[65])
{
	uint8_t *buf = malloc(len);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = r->ops->pread(r, buf, len, 0);
	if (!ret)
		hex_sha256(buf, len, out);
	free(buf);
	return ret;
}

/* Get Blob of a snapshot, through the same client code (signed, retried). */
static int read_snapshot(const char *url, const struct remote_opts *ro, const char *id,
			 size_t len, char out[65])
{
	static struct azure_client c;
	static struct azure_op op;
	char q[128];
	int ret;

	ret = azure_client_init(&c, url, ro);
	if (ret)
		return ret;
	snprintf(q, sizeof(q), "snapshot=%s", id);
	azure_op_init(&op, "GET", c.url.path);
	op.query[op.nr_query++] = q;
	op.resp_max = len;
	ret = azure_op_run(&c, &op);
	if (!ret && op.x.resp_len != len)
		ret = -EIO;
	if (!ret)
		hex_sha256(op.x.resp, len, out);
	azure_op_release(&op);
	azure_client_destroy(&c);
	return ret;
}

int main(int argc, char **argv)
{
	struct remote_opts ro = {
		.endpoint = getenv("AZ_ENDPOINT"),
		.key_file = getenv("AZ_KEY_FILE"),
		.ca_file = getenv("AZ_CA_FILE"),
	};
	static const size_t chunks[] = { 4096, 65536, 6u << 20, 512 * 3, 1u << 20 };
	struct replica *r = NULL;
	char sum[65], after_path[4096];
	uint8_t *data;
	struct stat st;
	size_t size, off = 0;
	char *id = NULL;
	int fd, ret, i = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: page-blob-probe URL FILE\n");
		return 2;
	}
	fd = open(argv[2], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return 1;
	size = (size_t)st.st_size;
	data = malloc(size);
	if (!data || read(fd, data, size) != (ssize_t)size)
		return 1;
	close(fd);

	ret = replica_azure_open(argv[1], size, &ro, &r);
	if (ret)
		return 1;
	printf("created=%d size=%llu\n", r->created, (unsigned long long)r->size);
	{
		struct replica *r2;
		int ret2 = replica_azure_open(argv[1], size, &ro, &r2);

		printf("second-open=%d\n", ret2);
		if (!ret2)
			r2->ops->close(r2);
	}
	while (off < size) {
		size_t n = chunks[i++ % 5];

		if (n > size - off)
			n = size - off;
		ret = r->ops->pwrite(r, data + off, n, off);
		if (ret)
			goto out;
		off += n;
	}
	ret = r->ops->sync(r);
	if (!ret)
		ret = read_all(r, size, sum);
	if (ret)
		goto out;
	printf("current=%s\n", sum);
	ret = r->ops->snapshot(r, &id);
	if (ret)
		goto out;
	printf("snapshot=%s\n", id);
	ret = read_snapshot(argv[1], &ro, id, size, sum);
	if (ret)
		goto out;
	printf("snapshot-data=%s\n", sum);

	/* Overwrite: 1 MiB of zeros (a clear), then 1 MiB of other data. */
	memset(data, 0, 1u << 20);
	for (size_t k = 1u << 20; k < 2u << 20; k++)
		data[k] = (uint8_t)(k * 7 + 3);
	ret = r->ops->pwrite(r, data, 2u << 20, 0);
	if (!ret)
		ret = read_all(r, size, sum);
	if (ret)
		goto out;
	printf("after=%s\n", sum);
	snprintf(after_path, sizeof(after_path), "%s.after", argv[2]);
	fd = open(after_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		return 1;
	close(fd);
	r->ops->close(r);

	ret = replica_azure_open(argv[1], size, &ro, &r);
	if (ret)
		return 1;
	printf("reopen created=%d size=%llu\n", r->created, (unsigned long long)r->size);
	printf("unaligned=%d\n", r->ops->pwrite(r, data, 100, 0));
	ret = 0;
out:
	free(id);
	free(data);
	r->ops->close(r);
	return ret ? 1 : 0;
}
