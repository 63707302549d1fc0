pragma circom 2.1.0;

// The round circuit: the provable rule of aggregator/detectors/provable.py, checked over the
// trainers' committed sketches (zk/README.md, "The round circuit", has the rule, the public
// input layout and every range). Round(N, K): N trainer slots, sketches of K values.
//
// Public inputs, in this order (the order the Groth16 verifier takes them):
//   commitments[N]        each slot's stored sketch commitment; 0 = the slot has none
//   marks                 bit i: slot i flagged; bit N + i: slot i rejected;
//                         bits 2N .. 2N+31: tau_num; bits 2N+32 .. 2N+63: tau_den
//   packedScores[(N+1)/2] score[2q] + score[2q+1] * 2^126
//   aggregateCommitment   AggregateCommitment(K) of g
// Private inputs: sketch[N][K], salt[N] (zeros for slots outside A), and the aggregator's own
// values of the rule as hints: median[K], medianDistance, aggregate[K], remainder[K]. The
// circuit checks the hints by counting and by range-checked division; it never sorts.
//
// Include path: zk/circuits and a folder holding circomlib/circuits (circomlib 2.0.5).

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "commitment.circom";

// The least n with 2^n >= x (x >= 1).
function ceilLog2(x) {
    var n = 0;
    while ((1 << n) < x) {
        n++;
    }
    return n;
}

// out = 1 when in == 0, else 0. Unlike circomlib's IsZero, the inverse hint is pinned to 0
// when in == 0, so no witness value is left free.
template StrictIsZero() {
    signal input in;
    signal output out;
    signal inv;
    inv <-- in != 0 ? 1 / in : 0;
    out <== 1 - in * inv;
    in * out === 0;
    inv * out === 0;
}

// in, read as a signed integer, lies in [-2^VB, 2^VB): in + 2^VB has VB + 1 bits.
template SignedBits(VB) {
    signal input in;
    component bits = Num2Bits(VB + 1);
    bits.in <== in + (1 << VB);
}

// A sketch value: |in| <= 2^VB - 1, i.e. SignedBits(VB) and in != -2^VB.
template SketchValue(VB) {
    signal input in;
    component bits = Num2Bits(VB + 1);
    bits.in <== in + (1 << VB);
    signal inv;
    inv <-- (in + (1 << VB)) != 0 ? 1 / (in + (1 << VB)) : 0;
    inv * (in + (1 << VB)) === 1;
}

// The lower median check by counting. Given per-slot values v[i] (< 2^B as unsigned, after
// any offset), membership act[i] in {0, 1}, h = (a - 1) \ 2 and za = [a == 0]:
//   #{i : act_i, v_i < m} <= h   and   #{i : act_i, v_i <= m} >= h + 1   (when a > 0),
// which pins m to the (h+1)-th smallest active value. m must be range-checked to B bits by
// the caller. CB bits hold every count and h + 1.
template LowerMedianCount(N, B, CB) {
    signal input v[N];
    signal input act[N];
    signal input m;
    signal input h;
    signal input za;

    component lt[N];
    component eq[N];
    signal actLt[N];
    signal actEq[N];
    var below = 0;
    var equal = 0;
    for (var i = 0; i < N; i++) {
        lt[i] = LessThan(B);
        lt[i].in[0] <== v[i];
        lt[i].in[1] <== m;
        eq[i] = StrictIsZero();
        eq[i].in <== v[i] - m;
        actLt[i] <== act[i] * lt[i].out;
        actEq[i] <== act[i] * eq[i].out;
        below += actLt[i];
        equal += actEq[i];
    }
    // #below <= h  <=>  #below < h + 1
    component fewBelow = LessThan(CB);
    fewBelow.in[0] <== below;
    fewBelow.in[1] <== h + 1;
    fewBelow.out === 1;
    // #(below or equal) >= h + 1  <=>  h < #(below or equal); vacuous (and false) when a = 0
    component enough = LessThan(CB);
    enough.in[0] <== h;
    enough.in[1] <== below + equal;
    enough.out === 1 - za;
}

template Round(N, K) {
    var VB = 40;                      // sketch values: |s| <= 2^40 - 1
    var KB = ceilLog2(K);
    var CB = ceilLog2(N + 2);         // counts, h + 1, c and remainders: all <= N + 1 < 2^CB
    var DB = 2 * (VB + 1) + KB;       // distances: 0 <= dist < K * 2^82 <= 2^DB
    var IPB = 2 * VB + KB;            // inner products: |<s_i, g>| < 2^IPB
    var TB = 32;                      // tau_num, tau_den < 2^32
    var SHIFT = 126;                  // packed score slot width
    var NP = (N + 1) \ 2;             // packed score inputs
    assert(N >= 1 && K >= 1);
    assert(2 * N + 2 * TB <= 252);
    assert(DB + TB <= 252);
    assert(IPB + 1 <= SHIFT);

    // ---- public inputs -------------------------------------------------------------------
    signal input commitments[N];
    signal input marks;
    signal input packedScores[NP];
    signal input aggregateCommitment;
    // ---- private inputs ------------------------------------------------------------------
    signal input sketch[N][K];
    signal input salt[N];
    signal input median[K];
    signal input medianDistance;
    signal input aggregate[K];
    signal input remainder[K];

    // ---- 0. marks: flags, rejections, tau ------------------------------------------------
    component markBits = Num2Bits(2 * N + 2 * TB);
    markBits.in <== marks;
    var tauNumLc = 0;
    var tauDenLc = 0;
    for (var b = 0; b < TB; b++) {
        tauNumLc += markBits.out[2 * N + b] * (1 << b);
        tauDenLc += markBits.out[2 * N + TB + b] * (1 << b);
    }
    signal tauNum;
    signal tauDen;
    tauNum <== tauNumLc;
    tauDen <== tauDenLc;

    // ---- 1. A: present (nonzero commitment) and not rejected ------------------------------
    component absent[N];
    signal active[N];
    var a = 0;
    for (var i = 0; i < N; i++) {
        absent[i] = StrictIsZero();
        absent[i].in <== commitments[i];
        active[i] <== (1 - absent[i].out) * (1 - markBits.out[N + i]);
        a += active[i];
    }

    // Each active slot opens its commitment; every other slot carries zeros.
    component opening[N];
    component value[N][K];
    for (var i = 0; i < N; i++) {
        opening[i] = SketchCommitment(K);
        opening[i].salt <== salt[i];
        for (var j = 0; j < K; j++) {
            opening[i].sketch[j] <== sketch[i][j];
            value[i][j] = SketchValue(VB);
            value[i][j].in <== sketch[i][j];
            sketch[i][j] * (1 - active[i]) === 0;
        }
        salt[i] * (1 - active[i]) === 0;
        active[i] * (opening[i].commitment - commitments[i]) === 0;
    }

    // h = (a - 1) \ 2 for a > 0; h = 0 for a = 0.
    component noneActive = StrictIsZero();
    noneActive.in <== a;
    signal za;
    za <== noneActive.out;
    signal h;
    signal hOdd;
    h <-- a == 0 ? 0 : (a - 1) \ 2;
    hOdd <-- a == 0 ? 0 : (a - 1) % 2;
    hOdd * (hOdd - 1) === 0;
    component hBits = Num2Bits(CB);
    hBits.in <== h;
    a - 1 + za === 2 * h + hOdd;

    // ---- 2. coordinate-wise lower median m over A (m = 0 when A is empty) -----------------
    component mRange[K];
    component mCount[K];
    for (var j = 0; j < K; j++) {
        mRange[j] = SignedBits(VB);
        mRange[j].in <== median[j];
        median[j] * za === 0;
        mCount[j] = LowerMedianCount(N, VB + 1, CB);
        for (var i = 0; i < N; i++) {
            mCount[j].v[i] <== sketch[i][j] + (1 << VB);
            mCount[j].act[i] <== active[i];
        }
        mCount[j].m <== median[j] + (1 << VB);
        mCount[j].h <== h;
        mCount[j].za <== za;
    }

    // ---- 3. squared distances to m (0 outside A) ------------------------------------------
    signal diffSq[N][K];
    signal dist[N];
    for (var i = 0; i < N; i++) {
        var sum = 0;
        for (var j = 0; j < K; j++) {
            diffSq[i][j] <== (sketch[i][j] - median[j]) * (sketch[i][j] - median[j]);
            sum += diffSq[i][j];
        }
        dist[i] <== active[i] * sum;
    }

    // ---- 4. D, the lower median of the distances over A (0 when A is empty) ---------------
    component dRange = Num2Bits(DB);
    dRange.in <== medianDistance;
    medianDistance * za === 0;
    component dCount = LowerMedianCount(N, DB, CB);
    for (var i = 0; i < N; i++) {
        dCount.v[i] <== dist[i];
        dCount.act[i] <== active[i];
    }
    dCount.m <== medianDistance;
    dCount.h <== h;
    dCount.za <== za;

    // ---- 5. flags: active, D > 0 and dist * tau_den > tau_num * D --------------------------
    component dZero = StrictIsZero();
    dZero.in <== medianDistance;
    signal tauD;
    tauD <== tauNum * medianDistance;
    signal distTau[N];
    component far[N];
    signal farActive[N];
    signal flag[N];
    var c = 0;
    for (var i = 0; i < N; i++) {
        distTau[i] <== dist[i] * tauDen;
        far[i] = LessThan(DB + TB);
        far[i].in[0] <== tauD;
        far[i].in[1] <== distTau[i];
        farActive[i] <== active[i] * far[i].out;
        flag[i] <== farActive[i] * (1 - dZero.out);
        flag[i] === markBits.out[i];
        c += active[i] - flag[i];
    }

    // ---- 6. g = floor(sum over G of s / |G|), remainder checked (g = 0 when G is empty) ---
    component cZero = StrictIsZero();
    cZero.in <== c;
    signal kept[N][K];
    signal cg[K];
    component gRange[K];
    component rBits[K];
    component rBelowC[K];
    for (var j = 0; j < K; j++) {
        var total = 0;
        for (var i = 0; i < N; i++) {
            kept[i][j] <== (active[i] - flag[i]) * sketch[i][j];
            total += kept[i][j];
        }
        gRange[j] = SignedBits(VB);
        gRange[j].in <== aggregate[j];
        aggregate[j] * cZero.out === 0;
        rBits[j] = Num2Bits(CB);
        rBits[j].in <== remainder[j];
        rBelowC[j] = LessThan(CB);
        rBelowC[j].in[0] <== remainder[j];
        rBelowC[j].in[1] <== c;
        rBelowC[j].out + cZero.out === 1;
        cg[j] <== c * aggregate[j];
        cg[j] + remainder[j] === total;
    }

    // ---- 7. scores: max(0, <s_i, g>) for i in G, else 0 -----------------------------------
    signal prod[N][K];
    component sign[N];
    signal positive[N];
    signal score[N];
    for (var i = 0; i < N; i++) {
        var ip = 0;
        for (var j = 0; j < K; j++) {
            prod[i][j] <== sketch[i][j] * aggregate[j];
            ip += prod[i][j];
        }
        sign[i] = Num2Bits(IPB + 1);
        sign[i].in <== ip + (1 << IPB);
        positive[i] <== sign[i].out[IPB] * ip;
        score[i] <== (active[i] - flag[i]) * positive[i];
    }
    for (var q = 0; q < NP; q++) {
        if (2 * q + 1 < N) {
            packedScores[q] === score[2 * q] + score[2 * q + 1] * (1 << SHIFT);
        } else {
            packedScores[q] === score[2 * q];
        }
    }

    // ---- 8. the aggregate commitment --------------------------------------------------------
    component gCommit = AggregateCommitment(K);
    for (var j = 0; j < K; j++) {
        gCommit.g[j] <== aggregate[j];
    }
    gCommit.commitment === aggregateCommitment;
}
