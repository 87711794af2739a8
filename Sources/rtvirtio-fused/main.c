// rtvirtio-fused: the lab's device-bound bottleneck (TESTBED.md). A FUSE
// file system with one file, /disk, backed by a regular file; every read and
// every write is served one at a time with a fixed service time per 4 KiB,
// like a device with one head (writes cost WRITE_SERVICE_US per 4 KiB, reads' cost unless
// given; the file's size is fixed). The file is opened with direct_io (no page cache in
// between), so a loop device over it (losetup --direct-io=on) with bfq
// queues real requests in front of a real, shared, slow server.
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

// one request at a time, each holding the "head" for its service time
static void serve(size_t size, long per4k_us) {
    long us = per4k_us * (long)((size + 4095) / 4096);
    struct timespec wait = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&wait, &wait) == -1 && errno == EINTR) {}
}

static int fs_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi) {
    (void)path; (void)fi;
    pthread_mutex_lock(&head);
    serve(size, service_us);
    ssize_t got = pread(backing_fd, buf, size, offset);
    int saved = errno;
    pthread_mutex_unlock(&head);
    return got < 0 ? -saved : (int)got;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t offset, struct fuse_file_info *fi) {
    (void)path; (void)fi;
    if (offset < 0 || offset > backing_size || (off_t)size > backing_size - offset) return -ENOSPC;   // a disk does not grow
    pthread_mutex_lock(&head);
    serve(size, write_service_us);
    ssize_t put = pwrite(backing_fd, buf, size, offset);
    int saved = errno;
    pthread_mutex_unlock(&head);
    return put < 0 ? -saved : (int)put;
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
    // foreground, one thread (requests are served in turn, like one head; the mutex keeps that true
    // if this ever runs multithreaded), kernel-side permission checks
    char *fuse_argv[] = { argv[0], argv[2], "-f", "-s", "-o", "default_permissions,fsname=rtvirtio-fused", NULL };
    return fuse_main(6, fuse_argv, &operations, NULL);
}
