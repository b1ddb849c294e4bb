/* test_nn_safetensors.c -- the safetensors reader on valid and hostile
 * input: every rule of the format gets a file that breaks it and must be
 * refused with TCONV_ERROR_FORMAT / IO / NOT_FOUND and a message that names
 * the problem; every truncation and many single-byte corruptions of a valid
 * file must fail cleanly (run under ASan in CI: no out-of-bounds read).
 * Also the module loaders and the committed digits generator. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

#include "check.h"

/* u64 LE length | header | data */
static size_t make_file(unsigned char *buf, size_t cap, const char *header, const void *data,
                        size_t data_len) {
    size_t h = strlen(header);
    if (8 + h + data_len > cap) abort();
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)h >> (8 * k));
    memcpy(buf + 8, header, h);
    if (data_len) memcpy(buf + 8 + h, data, data_len);
    return 8 + h + data_len;
}

static unsigned char g_buf[1 << 16];

/* Opens header+data from memory; checks status and that the message has `want`. */
static void expect(const char *header, size_t data_len, tconv_status want_status, const char *want) {
    static unsigned char data[4096];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)i;
    size_t n = make_file(g_buf, sizeof g_buf, header, data, data_len);
    tconv_safetensors *st = NULL;
    tconv_status s = tconv_safetensors_open_memory(g_buf, n, &st);
    CHECK_MSG(s == want_status && strstr(tconv_last_error(), want) != NULL,
              "header %s: status %d (want %d), message '%s' (want '%s')", header, (int)s,
              (int)want_status, tconv_last_error(), want);
    if (s == TCONV_OK) tconv_safetensors_close(st);
    else CHECK(st == NULL);
}

#define T1 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

static void test_valid(void) {
    float a[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.5f, 1e-3f};
    int64_t n = 42;
    unsigned char data[32];
    memcpy(data, a, 24);
    memcpy(data + 24, &n, 8); /* this test assumes a little-endian host, like the data */
    const char *h = "{\"__metadata__\":{\"format\":\"pt\",\"k\\u00e9y\":\"v\\\"q\"},"
                    "\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                    "\"layer.n\":{\"data_offsets\":[24,32],\"shape\":[],\"dtype\":\"I64\"}}   ";
    size_t len = make_file(g_buf, sizeof g_buf, h, data, 32);
    tconv_safetensors *st = NULL;
    CHECK(tconv_safetensors_open_memory(g_buf, len, &st) == TCONV_OK);
    if (!st) return;
    CHECK(tconv_safetensors_count(st) == 2);
    tconv_tensor_info info;
    CHECK(tconv_safetensors_info(st, 1, &info) == TCONV_OK && strcmp(info.name, "layer.n") == 0 &&
          info.ndim == 0 && info.dtype == TCONV_DTYPE_I64 && info.numel == 1 && info.nbytes == 8);
    CHECK(tconv_safetensors_find(st, "layer.weight", &info) == TCONV_OK && info.ndim == 2 &&
          info.shape[0] == 2 && info.shape[1] == 3 && info.dtype == TCONV_DTYPE_F32);
    CHECK(tconv_safetensors_info(st, 2, &info) == TCONV_ERROR_NOT_FOUND);
    CHECK(strcmp(tconv_safetensors_metadata(st, "format"), "pt") == 0);
    CHECK(strcmp(tconv_safetensors_metadata(st, "k\xc3\xa9y"), "v\"q") == 0); /* \u00e9 -> UTF-8 */
    CHECK(tconv_safetensors_metadata(st, "nope") == NULL);
    float out[6];
    for (int i = 0; i < 6; i++) out[i] = -99.0f;
    CHECK(tconv_safetensors_read_f32(st, "layer.weight", 2, (const int64_t[]){2, 3}, out, 6) == TCONV_OK);
    CHECK(memcmp(out, a, sizeof a) == 0);
    /* The wrong dtype, shape, name, capacity: clear refusals, nothing written. */
    for (int i = 0; i < 6; i++) out[i] = -99.0f;
    CHECK(tconv_safetensors_read_f32(st, "layer.n", 0, NULL, out, 6) == TCONV_ERROR_FORMAT &&
          strstr(tconv_last_error(), "has dtype I64, expected F32"));
    CHECK(tconv_safetensors_read_f32(st, "layer.weight", 2, (const int64_t[]){3, 2}, out, 6) ==
              TCONV_ERROR_FORMAT &&
          strstr(tconv_last_error(), "size mismatch for layer.weight: the file has shape [2, 3], "
                                     "the layer expects [3, 2]"));
    CHECK(tconv_safetensors_read_f32(st, "layer.bias", 1, (const int64_t[]){3}, out, 6) ==
              TCONV_ERROR_NOT_FOUND &&
          strstr(tconv_last_error(), "no tensor named 'layer.bias'"));
    CHECK(tconv_safetensors_read_f32(st, "layer.weight", 2, (const int64_t[]){2, 3}, out, 5) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(out[0] == -99.0f && out[5] == -99.0f);
    tconv_safetensors_close(st);

    /* No tensors at all is a valid (empty) file; so is a 0-element tensor. */
    expect("{}", 0, TCONV_OK, "");
    expect("{\"__metadata__\":null}", 0, TCONV_OK, "");
    expect("{\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]}," T1 "}", 8, TCONV_OK, "");
}

static void test_hostile(void) {
    tconv_safetensors *st = NULL;
    /* Too short, header length beyond the file or absurd. */
    CHECK(tconv_safetensors_open_memory("\x02\0\0\0", 4, &st) == TCONV_ERROR_FORMAT &&
          strstr(tconv_last_error(), "too short for the 8-byte header length"));
    unsigned char b[16] = {0x10, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(tconv_safetensors_open_memory(b, 10, &st) == TCONV_ERROR_FORMAT &&
          strstr(tconv_last_error(), "header length 16 runs past the end of the file"));
    unsigned char big[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
    CHECK(tconv_safetensors_open_memory(big, 10, &st) == TCONV_ERROR_FORMAT &&
          strstr(tconv_last_error(), "exceeds the 100000000-byte limit"));
    /* Malformed JSON. */
    expect("", 0, TCONV_ERROR_FORMAT, "expected '{'");
    expect("[]", 0, TCONV_ERROR_FORMAT, "expected '{'");
    expect("{\"a\":", 0, TCONV_ERROR_FORMAT, "expected '{'");
    expect("{" T1, 8, TCONV_ERROR_FORMAT, "expected '}'");
    expect("{" T1 "}x", 8, TCONV_ERROR_FORMAT, "unexpected bytes after the header");
    expect("{" T1 ",}", 8, TCONV_ERROR_FORMAT, "expected a string");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8, TCONV_ERROR_FORMAT, "leading zero");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, TCONV_ERROR_FORMAT, "non-negative integer");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, TCONV_ERROR_FORMAT, "fraction or exponent");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8, TCONV_ERROR_FORMAT, "does not fit in int64");
    expect("{\"a\\q\":{}}", 0, TCONV_ERROR_FORMAT, "bad escape");
    expect("{\"a\x01\":{}}", 0, TCONV_ERROR_FORMAT, "control character");
    expect("{\"a\\u00\":{}}", 0, TCONV_ERROR_FORMAT, "bad \\u escape");
    expect("{\"a\\ud800\":{}}", 0, TCONV_ERROR_FORMAT, "unpaired surrogate");
    expect("{\"a\\u0000b\":{}}", 0, TCONV_ERROR_FORMAT, "\\u0000");
    expect("{\"a", 0, TCONV_ERROR_FORMAT, "unterminated string");
    expect("{\"a\":{}}", 0, TCONV_ERROR_FORMAT, "tensor entry is empty");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, TCONV_ERROR_FORMAT, "lacks dtype, shape or data_offsets");
    expect("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, TCONV_ERROR_FORMAT, "duplicate key in tensor entry");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, TCONV_ERROR_FORMAT, "unknown key in tensor entry");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, TCONV_ERROR_FORMAT, "data_offsets has more than 2 entries");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", 8, TCONV_ERROR_FORMAT, "must be [begin, end]");
    expect("{\"a\":{\"dtype\":\"F7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, TCONV_ERROR_FORMAT, "unknown dtype \"F7\"");
    expect("{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, TCONV_ERROR_FORMAT, "expected a string");
    expect("{\"__metadata__\":{\"k\":1}}", 0, TCONV_ERROR_FORMAT, "__metadata__ values must be strings");
    expect("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, TCONV_ERROR_FORMAT, "duplicate key in __metadata__");
    expect("{\"__metadata__\":{},\"__metadata__\":{}}", 0, TCONV_ERROR_FORMAT, "duplicate __metadata__");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"
           "\"data_offsets\":[0,4]}}", 4, TCONV_ERROR_FORMAT, "shape has more than 32 entries");
    /* Inconsistent numbers. */
    expect("{" T1 "," T1 "}", 8, TCONV_ERROR_FORMAT, "tensor name 'a' appears twice");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, TCONV_ERROR_FORMAT,
           "span 8 bytes but F32 shape [3] needs 12");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, TCONV_ERROR_FORMAT, "end before they begin");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, TCONV_ERROR_FORMAT,
           "go beyond the 4 bytes of data (truncated file?)");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]}}", 8,
           TCONV_ERROR_FORMAT, "overflows int64");
    expect("{\"a\":{\"dtype\":\"F64\",\"shape\":[1152921504606846976],\"data_offsets\":[0,8]}}", 8,
           TCONV_ERROR_FORMAT, "overflows int64");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, TCONV_ERROR_FORMAT, "overlap another tensor");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, TCONV_ERROR_FORMAT, "leave a gap");
    expect("{" T1 "}", 12, TCONV_ERROR_FORMAT, "cover 8 bytes of data but the file has 12");
    /* Unsorted offsets are fine as long as the tensors tile the data. */
    expect("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}," T1 "}", 12, TCONV_OK, "");
    /* Files. */
    CHECK(tconv_safetensors_open("/nonexistent/w.safetensors", &st) == TCONV_ERROR_IO &&
          strstr(tconv_last_error(), "cannot open '/nonexistent/w.safetensors'"));
    CHECK(tconv_safetensors_open(".", &st) != TCONV_OK); /* a directory: IO or FORMAT, no crash */
}

/* Every truncation and many byte corruptions of a valid file: clean
 * failures (or success), never a crash; ASan checks the reads. */
static void test_truncations_and_corruptions(void) {
    static const float d[5] = {1, 2, 3, 4, 5};
    const char *h = "{\"__metadata__\":{\"m\":\"x\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                    "\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}";
    unsigned char file[512], work[512];
    size_t n = make_file(file, sizeof file, h, d, 20);
    int ok = 0, refused = 0;
    for (size_t len = 0; len < n; len++) {
        tconv_safetensors *st = NULL;
        unsigned char *copy = malloc(len ? len : 1); /* exact-size buffer: ASan sees overreads */
        memcpy(copy, file, len);
        tconv_status s = tconv_safetensors_open_memory(copy, len, &st);
        free(copy);
        if (s == TCONV_OK) {
            ok++;
            tconv_safetensors_close(st);
        } else {
            refused++;
            CHECK(s == TCONV_ERROR_FORMAT && tconv_last_error()[0]);
        }
    }
    CHECK_MSG(ok == 0 && refused == (int)n, "truncations: %d opened, %d refused", ok, refused);
    const unsigned char vals[] = {0, '"', '\\', '{', '}', '[', ']', ',', ':', '9', '-', 0xff, ' '};
    int opened = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(work, file, n);
            work[i] = vals[v];
            tconv_safetensors *st = NULL;
            if (tconv_safetensors_open_memory(work, n, &st) == TCONV_OK) {
                opened++;
                tconv_tensor_info info;
                for (int64_t k = 0; k < tconv_safetensors_count(st); k++)
                    CHECK(tconv_safetensors_info(st, k, &info) == TCONV_OK && info.nbytes >= 0);
                tconv_safetensors_close(st);
            }
        }
    }
    printf("corruptions: %d of %zu still valid files (e.g. changed data bytes)\n", opened,
           n * sizeof vals);
}

static void test_loaders_and_model(void) {
    /* A Linear(2, 2) state_dict without bias, for modules with and without one. */
    float w[4] = {1, 2, 3, 4};
    size_t n = make_file(g_buf, sizeof g_buf,
                         "{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", w, 16);
    tconv_safetensors *st = NULL;
    CHECK(tconv_safetensors_open_memory(g_buf, n, &st) == TCONV_OK);
    tconv_linear with, without;
    CHECK(tconv_linear_init(&with, 2, 2, 1, NULL) == TCONV_OK);
    CHECK(tconv_linear_init(&without, 2, 2, 0, NULL) == TCONV_OK);
    CHECK(tconv_linear_load(&without, st, "fc") == TCONV_OK && without.weight[3] == 4.0f);
    CHECK(tconv_linear_load(&with, st, "fc") == TCONV_ERROR_NOT_FOUND &&
          strstr(tconv_last_error(), "Missing key(s) in state_dict: \"fc.bias\""));
    tconv_linear big;
    CHECK(tconv_linear_init(&big, 3, 2, 0, NULL) == TCONV_OK);
    CHECK(tconv_linear_load(&big, st, "fc") == TCONV_ERROR_FORMAT &&
          strstr(tconv_last_error(), "size mismatch for fc.weight"));
    tconv_linear_free(&with), tconv_linear_free(&without), tconv_linear_free(&big);
    tconv_safetensors_close(st);

    /* The committed generator (trained and written by tconv train). */
    CHECK(tconv_safetensors_open("models/dcgan_digits.safetensors", &st) == TCONV_OK);
    if (!st) return;
    CHECK(tconv_safetensors_count(st) == 13);
    const char *model = tconv_safetensors_metadata(st, "model");
    CHECK(model && strcmp(model, "seed003-dcgan-generator") == 0);
    tconv_batchnorm2d bn;
    CHECK(tconv_batchnorm2d_init(&bn, 128) == TCONV_OK);
    CHECK(tconv_batchnorm2d_load(&bn, st, "net.1") == TCONV_OK);
    CHECK(bn.num_batches_tracked > 100 && bn.running_var[0] > 0 && bn.running_var[0] != 1.0f);
    tconv_batchnorm2d_free(&bn);
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 100, 128, 4, 4);
    tconv_conv_transpose2d_module ct;
    CHECK(tconv_conv_transpose2d_module_init(&ct, &p, 1, NULL) == TCONV_OK);
    CHECK(tconv_conv_transpose2d_module_load(&ct, st, "net.0") == TCONV_ERROR_NOT_FOUND); /* bias=False */
    tconv_conv_transpose2d_module_free(&ct);
    CHECK(tconv_conv_transpose2d_module_init(&ct, &p, 0, NULL) == TCONV_OK);
    CHECK(tconv_conv_transpose2d_module_load(&ct, st, "net.0") == TCONV_OK && ct.weight[0] != 0.0f);
    tconv_conv_transpose2d_module_free(&ct);
    tconv_safetensors_close(st);
}

/* tconv_safetensors_read: any dtype, checked, nothing written on failure;
 * and the committed training data (U8 digits). */
static void test_typed_read(void) {
    const int64_t i64[3] = {-7, 1LL << 40, 3};
    const unsigned char u8[4] = {0, 16, 255, 9};
    unsigned char data[32];
    memcpy(data, i64, 24);
    memcpy(data + 24, u8, 4);
    size_t n = make_file(g_buf, sizeof g_buf,
                         "{\"i\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
                         "\"u\":{\"dtype\":\"U8\",\"shape\":[2,2],\"data_offsets\":[24,28]}}",
                         data, 28);
    tconv_safetensors *st = NULL;
    CHECK(tconv_safetensors_open_memory(g_buf, n, &st) == TCONV_OK);
    if (!st) return;
    int64_t gi[4] = {0, 0, 0, 99};
    const int64_t s3[1] = {3}, s22[2] = {2, 2}, s4[1] = {4};
    CHECK(tconv_safetensors_read(st, "i", TCONV_DTYPE_I64, 1, s3, gi, sizeof gi) == TCONV_OK &&
          gi[0] == -7 && gi[1] == (1LL << 40) && gi[2] == 3 && gi[3] == 99);
    unsigned char gu[4] = {1, 1, 1, 1};
    CHECK(tconv_safetensors_read(st, "u", TCONV_DTYPE_U8, 2, s22, gu, 4) == TCONV_OK &&
          memcmp(gu, u8, 4) == 0);
    /* refusals leave dst alone */
    unsigned char keep[4] = {7, 7, 7, 7};
    CHECK(tconv_safetensors_read(st, "u", TCONV_DTYPE_I8, 2, s22, keep, 4) == TCONV_ERROR_FORMAT &&
          strstr(tconv_last_error(), "has dtype U8, expected I8"));
    CHECK(tconv_safetensors_read(st, "u", TCONV_DTYPE_U8, 1, s4, keep, 4) == TCONV_ERROR_FORMAT &&
          strstr(tconv_last_error(), "size mismatch for u"));
    CHECK(tconv_safetensors_read(st, "u", TCONV_DTYPE_U8, 2, s22, keep, 3) ==
              TCONV_ERROR_INVALID_ARGUMENT &&
          strstr(tconv_last_error(), "holds 3 values but needs 4"));
    CHECK(tconv_safetensors_read(st, "i", TCONV_DTYPE_I64, 1, s3, keep, 4) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_safetensors_read(st, "x", TCONV_DTYPE_U8, 2, s22, keep, 4) == TCONV_ERROR_NOT_FOUND);
    CHECK(tconv_safetensors_read(st, "u", (tconv_dtype)99, 2, s22, keep, 4) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_safetensors_read(NULL, "u", TCONV_DTYPE_U8, 2, s22, keep, 4) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(keep[0] == 7 && keep[1] == 7 && keep[2] == 7 && keep[3] == 7);
    tconv_safetensors_close(st);

    /* the digits the DCGAN trains on: 1797 images of grey levels 0..16 */
    CHECK(tconv_safetensors_open("models/digits8x8.safetensors", &st) == TCONV_OK);
    if (!st) return;
    const int64_t shape[3] = {1797, 8, 8};
    unsigned char *img = malloc(1797 * 64);
    CHECK(img && tconv_safetensors_read(st, "images", TCONV_DTYPE_U8, 3, shape, img,
                                        1797 * 64) == TCONV_OK);
    int max = 0;
    for (int i = 0; img && i < 1797 * 64; i++) max = img[i] > max ? img[i] : max;
    CHECK(max == 16);
    free(img);
    tconv_safetensors_close(st);
}

int main(void) {
    test_valid();
    test_hostile();
    test_truncations_and_corruptions();
    test_typed_read();
    test_loaders_and_model();
    return tc_test_summary("test_nn_safetensors");
}
