// rtvirtio-fused: the lab's device-bound bottleneck (TESTBED.md). A FUSE
// file system with one file, /disk, backed by a regular file; every read and
// every write is served one at a time with a fixed service time per 4 KiB,
// like a device with one head (writes cost WRITE_SERVICE_US per 4 KiB, reads' cost unless
// given; the file's size is fixed). The head is a clock, not a sleep per request: a request
// completes at max(its arrival, the previous completion) + its service time, and the
// server's own overhead (FUSE round trips, wake-ups) overlaps the head's work on several
// threads. A sleep per request on one thread added that overhead to every request, so the
// device's capacity followed the machine's CPU load (2.1k-3.4k IOPS run to run, 200 us).
// The file is opened with direct_io (no page cache in between), so a loop device over it
// (losetup --direct-io=on) queues real requests in front of a real, shared, slow server.
//   rtvirtio-fused BACKING MOUNTPOINT SERVICE_US [WRITE_SERVICE_US]   (runs until unmounted)
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int backing_fd = -1;
static off_t backing_size;
static long service_us, write_service_us;
static pthread_mutex_t head = PTHREAD_MUTEX_INITIALIZER;
static struct timespec head_free;   // CLOCK_MONOTONIC: when the head finishes the last request given it

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    (void)fi;
    memset(st, 0, sizeof *st);
    if (strcmp(path, "/") == 0) { st->st_mode = S_IFDIR | 0755; st->st_nlink = 2; return 0; }
    if (strcmp(path, "/disk") == 0) { st->st_mode = S_IFREG | 0644; st->st_nlink = 1; st->st_size = backing_size; return 0; }
    return -ENOENT;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t offset,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
    (void)offset; (void)fi; (void)flags;
    if (strcmp(path, "/") != 0) return -ENOENT;
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    fill(buf, "disk", NULL, 0, 0);
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi) {
    if (strcmp(path, "/disk") != 0) return -ENOENT;
    fi->direct_io = 1;
    return 0;
}

static struct timespec plus_ns(struct timespec t, long ns) {
    t.tv_sec += ns / 1000000000L;
    t.tv_nsec += ns % 1000000000L;
    if (t.tv_nsec >= 1000000000L) { t.tv_sec += 1; t.tv_nsec -= 1000000000L; }
    return t;
}

static int before(struct timespec a, struct timespec b) {
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

// one request at a time: the head takes it when it arrives or when it finishes the one before,
// whichever is later, and holds it for its service time; the caller waits until then
static void serve(size_t size, long per4k_us) {
    struct timespec arrived, done;
    clock_gettime(CLOCK_MONOTONIC, &arrived);
    long ns = per4k_us * 1000L * (long)((size + 4095) / 4096);
    pthread_mutex_lock(&head);
    done = plus_ns(before(arrived, head_free) ? head_free : arrived, ns);
    head_free = done;
    pthread_mutex_unlock(&head);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &done, NULL) == EINTR) {}
}

static int fs_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi) {
    (void)path; (void)fi;
    serve(size, service_us);
    ssize_t got = pread(backing_fd, buf, size, offset);
    return got < 0 ? -errno : (int)got;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t offset, struct fuse_file_info *fi) {
    (void)path; (void)fi;
    if (offset < 0 || offset > backing_size || (off_t)size > backing_size - offset) return -ENOSPC;   // a disk does not grow
    serve(size, write_service_us);
    ssize_t put = pwrite(backing_fd, buf, size, offset);
    return put < 0 ? -errno : (int)put;
}

static const struct fuse_operations operations = {
    .getattr = fs_getattr, .readdir = fs_readdir, .open = fs_open, .read = fs_read, .write = fs_write,
};

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s BACKING MOUNTPOINT SERVICE_US [WRITE_SERVICE_US]\n", argv[0]);
        return 2;
    }
    char *end;
    service_us = strtol(argv[3], &end, 10);
    if (*end != 0 || service_us < 1 || service_us > 1000000) {
        fprintf(stderr, "rtvirtio-fused: SERVICE_US must be 1...1000000, got '%s'\n", argv[3]);
        return 2;
    }
    write_service_us = service_us;
    if (argc == 5) {
        write_service_us = strtol(argv[4], &end, 10);
        if (*end != 0 || write_service_us < 1 || write_service_us > 1000000) {
            fprintf(stderr, "rtvirtio-fused: WRITE_SERVICE_US must be 1...1000000, got '%s'\n", argv[4]);
            return 2;
        }
    }
    backing_fd = open(argv[1], O_RDWR | O_CLOEXEC);   // not O_DIRECT: FUSE's buffers are unaligned
    if (backing_fd < 0) { fprintf(stderr, "rtvirtio-fused: open %s: %s\n", argv[1], strerror(errno)); return 1; }
    struct stat st;
    if (fstat(backing_fd, &st) != 0) { fprintf(stderr, "rtvirtio-fused: stat %s: %s\n", argv[1], strerror(errno)); return 1; }
    backing_size = st.st_size;
    // foreground, several threads (each waits for its request's turn on the head, so the server's
    // overhead for one request overlaps another's service), kernel-side permission checks
    char *fuse_argv[] = { argv[0], argv[2], "-f", "-o", "default_permissions,fsname=rtvirtio-fused,max_threads=64,max_idle_threads=64", NULL };
    return fuse_main(5, fuse_argv, &operations, NULL);
}
