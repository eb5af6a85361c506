/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just enough of the kernel API to build kmod/cbt-bitmap.c as a user
 * program (see bitmap-model.sh).  Pages are tiny so a small bitmap spans
 * several directory pages; page and leaf allocation can be made to fail,
 * and the bytes they hold are counted.
 */
#ifndef CBT_KSHIM_H
#define CBT_KSHIM_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;
typedef uint32_t u32;
typedef uint8_t u8;
typedef unsigned int gfp_t;

#define PAGE_SIZE		64UL
#define BITS_PER_BYTE		8
#define BITS_PER_LONG		64
#define GFP_KERNEL		1U
#define GFP_NOWAIT		2U
#define __GFP_NOWARN		4U

#define unlikely(x)		__builtin_expect(!!(x), 0)
#define READ_ONCE(x)		(x)
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define BITS_TO_LONGS(n)	DIV_ROUND_UP(n, BITS_PER_LONG)
#define BIT_WORD(nr)		((nr) / BITS_PER_LONG)
#define BITMAP_FIRST_WORD_MASK(start) (~0UL << ((start) & (BITS_PER_LONG - 1)))
#define BITMAP_LAST_WORD_MASK(nbits) (~0UL >> (-(nbits) & (BITS_PER_LONG - 1)))
#define min(a, b)		((a) < (b) ? (a) : (b))
#define max(a, b)		((a) > (b) ? (a) : (b))
#define min_t(t, a, b)		min((t)(a), (t)(b))
#define module_param(n, t, p)
#define MODULE_PARM_DESC(n, d)

/* Percentage of page and leaf allocations that fail (set by the test). */
extern int shim_fail_percent;
/* Bytes of pages and cache objects held. */
extern long shim_bytes;

static inline unsigned long get_zeroed_page(gfp_t gfp)
{
	(void)gfp;
	if (shim_fail_percent && rand() % 100 < shim_fail_percent)
		return 0;
	shim_bytes += PAGE_SIZE;
	return (unsigned long)calloc(1, PAGE_SIZE);
}

static inline void free_page(unsigned long p)
{
	if (p)
		shim_bytes -= PAGE_SIZE;
	free((void *)p);
}

struct kmem_cache {
	size_t size;
};

static inline struct kmem_cache *kmem_cache_create(const char *name, unsigned int size,
						    unsigned int align, unsigned long flags,
						    void (*ctor)(void *))
{
	struct kmem_cache *c = calloc(1, sizeof(*c));

	(void)name, (void)align, (void)flags, (void)ctor;
	if (c)
		c->size = size;
	return c;
}

static inline void kmem_cache_destroy(struct kmem_cache *c)
{
	free(c);
}

static inline void *kmem_cache_zalloc(struct kmem_cache *c, gfp_t gfp)
{
	(void)gfp;
	if (shim_fail_percent && rand() % 100 < shim_fail_percent)
		return NULL;
	shim_bytes += (long)c->size;
	return calloc(1, c->size);
}

static inline void kmem_cache_free(struct kmem_cache *c, void *p)
{
	if (p)
		shim_bytes -= (long)c->size;
	free(p);
}

typedef struct { long counter; } atomic_long_t;

static inline long atomic_long_read(const atomic_long_t *a) { return a->counter; }
static inline void atomic_long_inc(atomic_long_t *a) { a->counter++; }
static inline void atomic_long_dec(atomic_long_t *a) { a->counter--; }
static inline void atomic_long_add(long i, atomic_long_t *a) { a->counter += i; }

static inline void *kzalloc(size_t n, gfp_t gfp) { (void)gfp; return calloc(1, n); }
static inline void *kvcalloc(size_t n, size_t s, gfp_t gfp) { (void)gfp; return calloc(n, s); }
static inline void kfree(const void *p) { free((void *)p); }
static inline void kvfree(const void *p) { free((void *)p); }
static inline u64 div64_u64(u64 a, u64 b) { return a / b; }

static inline unsigned long hweight_long(unsigned long w)
{
	return __builtin_popcountl(w);
}

static inline bool test_bit(unsigned long nr, const unsigned long *a)
{
	return (a[BIT_WORD(nr)] >> (nr % BITS_PER_LONG)) & 1;
}

static inline void __set_bit(unsigned long nr, unsigned long *a)
{
	a[BIT_WORD(nr)] |= 1UL << (nr % BITS_PER_LONG);
}

static inline void bitmap_zero(unsigned long *a, unsigned long n)
{
	memset(a, 0, BITS_TO_LONGS(n) * sizeof(long));
}

static inline unsigned long bitmap_weight(const unsigned long *a, unsigned long n)
{
	unsigned long i, w = 0;

	for (i = 0; i < n; i++)
		w += test_bit(i, a);
	return w;
}

static inline unsigned long find_next_bit(const unsigned long *a, unsigned long n,
					  unsigned long i)
{
	for (; i < n; i++)
		if (test_bit(i, a))
			return i;
	return n;
}

static inline unsigned long find_next_zero_bit(const unsigned long *a,
					       unsigned long n, unsigned long i)
{
	for (; i < n; i++)
		if (!test_bit(i, a))
			return i;
	return n;
}

#define for_each_set_bit(b, a, n) \
	for ((b) = find_next_bit(a, n, 0); (b) < (n); (b) = find_next_bit(a, n, (b) + 1))

#endif
