/* The file types (general.file_type) and the names they go by. */
#include "owl/quantize.h"

#include <strings.h>

typedef struct ftype_entry {
    int id;
    const char *name;
    owl_type base;
    bool producible; /* owl quantize can write it */
} ftype_entry;

static const ftype_entry ftypes[] = {
    {OWL_FTYPE_ALL_F32, "ALL_F32", OWL_TYPE_F32, true},
    {OWL_FTYPE_F16, "F16", OWL_TYPE_F16, true},
    {OWL_FTYPE_BF16, "BF16", OWL_TYPE_BF16, true},
    {OWL_FTYPE_Q8_0, "Q8_0", OWL_TYPE_Q8_0, true},
    {OWL_FTYPE_Q4_0, "Q4_0", OWL_TYPE_Q4_0, true},
    {OWL_FTYPE_Q4_1, "Q4_1", OWL_TYPE_Q4_1, true},
    {OWL_FTYPE_Q5_0, "Q5_0", OWL_TYPE_Q5_0, true},
    {OWL_FTYPE_Q5_1, "Q5_1", OWL_TYPE_Q5_1, true},
    {OWL_FTYPE_Q2_K, "Q2_K", OWL_TYPE_Q2_K, true},
    {OWL_FTYPE_Q3_K_S, "Q3_K_S", OWL_TYPE_Q3_K, true},
    {OWL_FTYPE_Q3_K_M, "Q3_K_M", OWL_TYPE_Q3_K, true},
    {OWL_FTYPE_Q3_K_L, "Q3_K_L", OWL_TYPE_Q3_K, true},
    {OWL_FTYPE_Q4_K_S, "Q4_K_S", OWL_TYPE_Q4_K, true},
    {OWL_FTYPE_Q4_K_M, "Q4_K_M", OWL_TYPE_Q4_K, true},
    {OWL_FTYPE_Q5_K_S, "Q5_K_S", OWL_TYPE_Q5_K, true},
    {OWL_FTYPE_Q5_K_M, "Q5_K_M", OWL_TYPE_Q5_K, true},
    {OWL_FTYPE_Q6_K, "Q6_K", OWL_TYPE_Q6_K, true},
    /* Mixes of types owl reads but does not compute with: named for `owl show`. */
    {19, "IQ2_XXS", OWL_TYPE_IQ2_XXS, false},
    {20, "IQ2_XS", OWL_TYPE_IQ2_XS, false},
    {21, "Q2_K_S", OWL_TYPE_Q2_K, false},
    {22, "IQ3_XS", OWL_TYPE_IQ3_S, false},
    {23, "IQ3_XXS", OWL_TYPE_IQ3_XXS, false},
    {24, "IQ1_S", OWL_TYPE_IQ1_S, false},
    {25, "IQ4_NL", OWL_TYPE_IQ4_NL, false},
    {26, "IQ3_S", OWL_TYPE_IQ3_S, false},
    {27, "IQ3_M", OWL_TYPE_IQ3_S, false},
    {28, "IQ2_S", OWL_TYPE_IQ2_S, false},
    {29, "IQ2_M", OWL_TYPE_IQ2_S, false},
    {30, "IQ4_XS", OWL_TYPE_IQ4_XS, false},
    {31, "IQ1_M", OWL_TYPE_IQ1_M, false},
    {36, "TQ1_0", OWL_TYPE_TQ1_0, false},
    {37, "TQ2_0", OWL_TYPE_TQ2_0, false},
    {38, "MXFP4_MOE", OWL_TYPE_MXFP4, false},
};
#define N_FTYPES (sizeof ftypes / sizeof ftypes[0])

static const ftype_entry *find(int id) {
    for (size_t i = 0; i < N_FTYPES; i++) {
        if (ftypes[i].id == id) return &ftypes[i];
    }
    return NULL;
}

const char *owl_ftype_name(int ftype) {
    const ftype_entry *e = find(ftype);
    return e ? e->name : "unknown";
}

int owl_ftype_from_name(const char *name) {
    for (size_t i = 0; i < N_FTYPES; i++) {
        if (ftypes[i].producible && strcasecmp(ftypes[i].name, name) == 0) return ftypes[i].id;
    }
    if (strcasecmp(name, "F32") == 0) return OWL_FTYPE_ALL_F32;
    return -1;
}

owl_type owl_ftype_base_type(int ftype) {
    const ftype_entry *e = find(ftype);
    return e ? e->base : OWL_TYPE_F32;
}

int owl_ftype_for_type(owl_type type) {
    switch (type) {
    case OWL_TYPE_F32: return OWL_FTYPE_ALL_F32;
    case OWL_TYPE_F16: return OWL_FTYPE_F16;
    case OWL_TYPE_BF16: return OWL_FTYPE_BF16;
    case OWL_TYPE_Q8_0: return OWL_FTYPE_Q8_0;
    case OWL_TYPE_Q4_0: return OWL_FTYPE_Q4_0;
    case OWL_TYPE_Q4_1: return OWL_FTYPE_Q4_1;
    case OWL_TYPE_Q5_0: return OWL_FTYPE_Q5_0;
    case OWL_TYPE_Q5_1: return OWL_FTYPE_Q5_1;
    case OWL_TYPE_Q2_K: return OWL_FTYPE_Q2_K;
    case OWL_TYPE_Q3_K: return OWL_FTYPE_Q3_K_M;
    case OWL_TYPE_Q4_K: return OWL_FTYPE_Q4_K_M;
    case OWL_TYPE_Q5_K: return OWL_FTYPE_Q5_K_M;
    case OWL_TYPE_Q6_K: return OWL_FTYPE_Q6_K;
    default: return -1;
    }
}
