/*
 * codec_c.c - C-direct codec benchmark. Each workload runs for about half
 * a second, three times; the best run is reported as
 *   C-direct <W> <what>  <ns> ns/op  <ops> ops/s
 * with <what> one word (bench/codec.lua reads these lines). Workloads:
 *   W1  encode: the OTP submit_sm (UCS2 JSON ready), cleared, filled and
 *       encoded per op; 206 bytes. Target <= 60 ns.
 *   W1u encode: the same, converting the UTF-8 JSON to UCS2 per op.
 *   W2  decode: a 181-byte receipt deliver_sm decoded and its text parsed
 *       per op. Target <= 120 ns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smpp_pdu.h"
#include "smpp_receipt.h"
#include "smpp_text.h"

#define RUNS 3
#define RUN_SECONDS 0.5

/* Keep the compiler from dropping or hoisting the work under test. */
#define BARRIER(p) __asm__ volatile("" : : "r"(p) : "memory")

static volatile long sink;

static const char otp_json[] = "{\"id\":\"otp-login\",\"language\":\"default\",\"code\":\"123456\","
                               "\"params\":{\"app\":\"Acme\"}}";
static const char receipt_text[] = "id:0123456789abcdef sub:001 dlvrd:001 submit date:2611251200 "
                                   "done date:2611251201 stat:DELIVRD err:000 text:";

static uint8_t ucs2[256];
static size_t ucs2_len;
static uint8_t out[512];
static uint8_t receipt_pdu[512];
static size_t receipt_len;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, long got)
{
    fprintf(stderr, "bench_codec: %s (got %ld)\n", what, got);
    exit(1);
}

static smpp_bytes bytes(const void *p, size_t n)
{
    smpp_bytes b = {p, n};
    return b;
}

/* The submit a client builds per OTP: clear, fill, encode. */
static long op_w1(void)
{
    smpp_pdu p;
    long n;

    smpp_pdu_clear(&p);
    p.command_id = SMPP_SUBMIT_SM;
    p.sequence_number = 1;
    p.service_type = bytes("CODE", 4);
    p.source_addr_ton = 1;
    p.source_addr_npi = 1;
    p.dest_addr_ton = 1;
    p.dest_addr_npi = 1;
    p.destination_addr = bytes("+6598765432", 11);
    p.registered_delivery = 1;
    p.data_coding = 8;
    p.short_message = bytes(ucs2, ucs2_len);
    n = smpp_pdu_encode(&p, out, sizeof(out), NULL);
    BARRIER(out);
    return n;
}

static long op_w1u(void)
{
    long u = smpp_utf8_to_ucs2((const uint8_t *)otp_json, sizeof(otp_json) - 1, ucs2, sizeof(ucs2),
                               NULL);

    ucs2_len = (size_t)u;
    BARRIER(ucs2);
    return op_w1();
}

static long op_w2(void)
{
    smpp_pdu d;
    smpp_receipt r;
    int rc;

    BARRIER(receipt_pdu);
    rc = smpp_pdu_decode(&d, receipt_pdu, receipt_len, NULL);
    rc += smpp_receipt_parse(d.short_message.ptr, d.short_message.len, &r);
    BARRIER(&r);
    return rc + (long)r.stat.len;
}

static void bench(const char *w, const char *what, long (*op)(void))
{
    double best = 1e30;
    long iters = 1000, i;
    int run;

    /* Calibrate: grow the count until one run takes about RUN_SECONDS. */
    for (;;) {
        double t0 = now(), dt;

        for (i = 0; i < iters; i++)
            sink = op();
        dt = now() - t0;
        if (dt > RUN_SECONDS / 4) {
            iters = (long)((double)iters * RUN_SECONDS / dt);
            break;
        }
        iters *= 4;
    }
    for (run = 0; run < RUNS; run++) {
        double t0 = now(), ns;

        for (i = 0; i < iters; i++)
            sink = op();
        ns = (now() - t0) * 1e9 / (double)iters;
        if (ns < best)
            best = ns;
    }
    printf("C-direct %s %s  %.1f ns/op  %.0f ops/s\n", w, what, best, 1e9 / best);
    fflush(stdout);
}

int main(void)
{
    static const char rid[] = "0123456789abcdef";
    uint8_t state = 2;
    smpp_pdu p;
    smpp_receipt r;
    long n;

    n = smpp_utf8_to_ucs2((const uint8_t *)otp_json, sizeof(otp_json) - 1, ucs2, sizeof(ucs2),
                          NULL);
    if (n != 158)
        die("UCS2 of the OTP JSON is not 158 bytes", n);
    ucs2_len = (size_t)n;
    if ((n = op_w1()) != 206)
        die("W1 submit_sm is not 206 bytes", n);

    smpp_pdu_clear(&p);
    p.command_id = SMPP_DELIVER_SM;
    p.sequence_number = 16;
    p.service_type = bytes("MSG", 3);
    p.dest_addr_ton = 1;
    p.dest_addr_npi = 1;
    p.destination_addr = bytes("+6598765432", 11);
    p.esm_class = 4;
    p.short_message = bytes(receipt_text, sizeof(receipt_text) - 1);
    smpp_pdu_add_tlv(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, rid, sizeof(rid), NULL);
    smpp_pdu_add_tlv(&p, SMPP_TLV_MESSAGE_STATE, &state, 1, NULL);
    n = smpp_pdu_encode(&p, receipt_pdu, sizeof(receipt_pdu), NULL);
    if (n != 181)
        die("W2 deliver_sm is not 181 bytes", n);
    receipt_len = (size_t)n;
    if (smpp_pdu_decode(&p, receipt_pdu, receipt_len, NULL) != 0 ||
        smpp_receipt_parse(p.short_message.ptr, p.short_message.len, &r) != 8)
        die("W2 receipt does not decode and parse", 0);

    bench("W1", "encode", op_w1);
    bench("W1u", "encode", op_w1u);
    bench("W2", "decode", op_w2);
    return 0;
}
