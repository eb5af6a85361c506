/* SPDX-License-Identifier: GPL-2.0 */
/* Whole-buffer writes to file descriptors: short writes and EINTR retried. */
#ifndef CBTSHIP_FD_IO_H
#define CBTSHIP_FD_IO_H

#include <stddef.h>
#include <stdint.h>

/* 0, or -errno of the write that failed. */
int fd_write_all(int fd, const void *buf, size_t len);
int fd_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

#endif
