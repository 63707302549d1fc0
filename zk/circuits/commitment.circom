pragma circom 2.0.0;

// The sketch commitment of zk/commitment.py as circom 2 templates (see zk/README.md).
//
//   X = [salt, s_0, ..., s_{k-1}]            (k + 1 field elements; s_i signed, i.e. mod p)
//   h_0 = Poseidon(X[0 .. 15])               (all of X when k + 1 <= 16)
//   h_j = Poseidon(h_{j-1}, next <= 15 elements of X)
//   commitment = last h
//
// For k = 32: Poseidon(16), Poseidon(16), Poseidon(3).
// No range checks here: the round circuit range-checks the sketch values itself.
// Include path: compile with `-l node_modules` (circomlib 2.0.5 from npm).

include "circomlib/circuits/poseidon.circom";

// Number of Poseidon calls for a sketch of k values.
function commitmentCalls(k) {
    if (k + 1 <= 16) {
        return 1;
    }
    return 1 + (k + 1 - 16 + 14) \ 15;
}

// commitment = chained Poseidon over [salt, sketch[0], ..., sketch[k-1]].
template SketchCommitment(k) {
    signal input sketch[k];
    signal input salt;
    signal output commitment;

    var nCalls = commitmentCalls(k);
    component h[nCalls];

    var n0 = k + 1;
    if (n0 > 16) {
        n0 = 16;
    }
    h[0] = Poseidon(n0);
    h[0].inputs[0] <== salt;
    for (var i = 1; i < n0; i++) {
        h[0].inputs[i] <== sketch[i - 1];
    }

    var used = n0 - 1;  // sketch values hashed so far
    for (var c = 1; c < nCalls; c++) {
        var m = k - used;
        if (m > 15) {
            m = 15;
        }
        h[c] = Poseidon(m + 1);
        h[c].inputs[0] <== h[c - 1].out;
        for (var i = 0; i < m; i++) {
            h[c].inputs[i + 1] <== sketch[used + i];
        }
        used += m;
    }

    commitment <== h[nCalls - 1].out;
}

// The aggregate tag of zk/commitment.py: the ASCII bytes "poc-market:aggregate-sketch:v1"
// read as a big-endian integer.
function aggregateTag() {
    return 0x706f632d6d61726b65743a6167677265676174652d736b657463683a7631;
}

// commitment to the aggregate sketch g: SketchCommitment with the public tag as salt.
template AggregateCommitment(k) {
    signal input g[k];
    signal output commitment;

    component c = SketchCommitment(k);
    for (var i = 0; i < k; i++) {
        c.sketch[i] <== g[i];
    }
    c.salt <== aggregateTag();
    commitment <== c.commitment;
}
