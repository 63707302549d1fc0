// GENERATED FILE - DO NOT EDIT.
// Made by scripts/generate_verifier.py (zk/solidity.py) with groth16py 0.2.0
// (VerifyingKey.to_solidity, style "snarkjs"; its Pairing library renamed Groth16Pairing16x32).
// Circuit: zk/circuits/round.circom Round(16, 32), circuit hash 9e5d65806902291a.
// Verification key sha256 949745cf8b3f538d (committed as zk/keys/round-16x32.vk.json).
// Key: DEVELOPMENT key (single-party groth16py setup: whoever ran the setup could forge proofs; never protect real value with it).
// SPDX-License-Identifier: MIT
// Copyright 2017 Christian Reitwiessner
// 2019 OKIMS
//
// Groth16 verifier, canonical `(a, b, c, input)` ABI — the general default for fresh
// deployments:
//   verifyProof(uint[2] a, uint[2][2] b, uint[2] c, uint[N] input) returns (bool)
//
// This is the argument shape `snarkjs zkey export solidityverifier` exposes. The pairing
// math reuses the same audited OKIMS Groth16Pairing16x32 library as the `bytes` style, so the two
// emitters share `verifyingKey()` and differ only in how `verifyProof` decodes its inputs.
//
// GENERAL over any BN254 Groth16 VK: `src/solidity.rs` parameterizes nPublic (the input +
// IC array sizes) and injects the VK constants into the verifyingKey() body.
//
// NOTE (§6): the `b` argument's G2 coordinates are in (c1, c0) word order — the same Fp2
// swap documented in encoding.rs — matching snarkjs's `exportSolidityCallData` and the
// §6b `bytes` layout, so a proof works verbatim across both styles.

pragma solidity ^0.8.24;

library Groth16Pairing16x32 {
    uint256 constant PRIME_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    struct G1Point {
        uint256 X;
        uint256 Y;
    }

    // Encoding of field elements is: X[0] * z + X[1]
    struct G2Point {
        uint256[2] X;
        uint256[2] Y;
    }

    /*
    * @return The negation of p, i.e. p.plus(p.negate()) should be zero.
    */
    function negate(G1Point memory p) internal pure returns (G1Point memory) {
        if (p.X == 0 && p.Y == 0) {
            return G1Point(0, 0);
        } else {
            return G1Point(p.X, PRIME_Q - (p.Y % PRIME_Q));
        }
    }

    /*
    * @return r the sum of two points of G1
    */
    function plus(G1Point memory p1, G1Point memory p2) internal view returns (G1Point memory r) {
        uint256[4] memory input;
        input[0] = p1.X;
        input[1] = p1.Y;
        input[2] = p2.X;
        input[3] = p2.Y;
        bool success;
        assembly {
            success := staticcall(sub(gas(), 2000), 6, input, 0xc0, r, 0x60)
            switch success
            case 0 { invalid() }
        }
        require(success, "pairing-add-failed");
    }

    /*
    * @return r the product of a point on G1 and a scalar.
    */
    function scalar_mul(G1Point memory p, uint256 s) internal view returns (G1Point memory r) {
        uint256[3] memory input;
        input[0] = p.X;
        input[1] = p.Y;
        input[2] = s;
        bool success;
        assembly {
            success := staticcall(sub(gas(), 2000), 7, input, 0x80, r, 0x60)
            switch success
            case 0 { invalid() }
        }
        require(success, "pairing-mul-failed");
    }

    /* @return The result of computing the pairing check
    *         e(p1[0], p2[0]) *  .... * e(p1[n], p2[n]) == 1
    */
    function pairing(
        G1Point memory a1,
        G2Point memory a2,
        G1Point memory b1,
        G2Point memory b2,
        G1Point memory c1,
        G2Point memory c2,
        G1Point memory d1,
        G2Point memory d2
    ) internal view returns (bool) {
        G1Point[4] memory p1 = [a1, b1, c1, d1];
        G2Point[4] memory p2 = [a2, b2, c2, d2];

        uint256 inputSize = 24;
        uint256[] memory input = new uint256[](inputSize);

        for (uint256 i = 0; i < 4; i++) {
            uint256 j = i * 6;
            input[j + 0] = p1[i].X;
            input[j + 1] = p1[i].Y;
            input[j + 2] = p2[i].X[0];
            input[j + 3] = p2[i].X[1];
            input[j + 4] = p2[i].Y[0];
            input[j + 5] = p2[i].Y[1];
        }

        uint256[1] memory out;
        bool success;
        assembly {
            success := staticcall(sub(gas(), 2000), 8, add(input, 0x20), mul(inputSize, 0x20), out, 0x20)
            switch success
            case 0 { invalid() }
        }
        require(success, "pairing-opcode-failed");
        return out[0] != 0;
    }
}

contract RoundGroth16Verifier16x32 {
    uint256 constant SNARK_SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 constant PRIME_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    using Groth16Pairing16x32 for *;

    struct VerifyingKey {
        Groth16Pairing16x32.G1Point alfa1;
        Groth16Pairing16x32.G2Point beta2;
        Groth16Pairing16x32.G2Point gamma2;
        Groth16Pairing16x32.G2Point delta2;
        Groth16Pairing16x32.G1Point[27] IC;
    }

    struct Proof {
        Groth16Pairing16x32.G1Point A;
        Groth16Pairing16x32.G2Point B;
        Groth16Pairing16x32.G1Point C;
    }

    function verifyingKey() internal pure returns (VerifyingKey memory vk) {
        vk.alfa1 = Groth16Pairing16x32.G1Point(
            uint256(16309454382397807549493910586726300276755339013280120106591058561899780309490),
            uint256(3267841862447409472250634252958232645005995838013630937148766597012383052173)
        );
        vk.beta2 = Groth16Pairing16x32.G2Point(
            [
                uint256(19808532944408873082197793679920030175347765924199238497237039437043092812204),
                uint256(14574196691193100024306142554094473606436471058094640369453426288894329903742)
            ],
            [
                uint256(2666505593724404013347447883625204749470963410521453625048997767014701541580),
                uint256(15228272085621221820155816563498354349213023808220947345264409288715039264578)
            ]
        );
        vk.gamma2 = Groth16Pairing16x32.G2Point(
            [
                uint256(11285306109542575445986325758950456376253206306093358668608077353138774831106),
                uint256(11101951715135171631125313438763098257414176956846814418726843117670649054648)
            ],
            [
                uint256(108984956197098043723445567603147357026154265440011987323625409423887126728),
                uint256(20142523761169755569986420543691110698506969334016934575498294321138536166269)
            ]
        );
        vk.delta2 = Groth16Pairing16x32.G2Point(
            [
                uint256(13061332813641313054002058443282740563012664935529872224317516295426419727926),
                uint256(2777275283412753349372125907819849673625979206407948822048833035293491617674)
            ],
            [
                uint256(18957525241955077222260761042616221064928116917411867398523939329636857681767),
                uint256(4555855431535304136523238558444476247045432699755584739484271581022251352645)
            ]
        );
        vk.IC[0] = Groth16Pairing16x32.G1Point(
            uint256(324665582647271833270156178136211752933550771726001202883623222093779092373),
            uint256(4068158433647810468136524561756014395633279951897425355173044747560351463483)
        );
        vk.IC[1] = Groth16Pairing16x32.G1Point(
            uint256(5678074166510345620547182111700031289998511148190739060715925323649006086858),
            uint256(1634534962242185646770938463187669131810180881136965148695326850232463513386)
        );
        vk.IC[2] = Groth16Pairing16x32.G1Point(
            uint256(15190144215359628879074159545911646992167145895300526485133603317297659836136),
            uint256(10577178559183084180175803536960352844733352420262715419099469537841193319701)
        );
        vk.IC[3] = Groth16Pairing16x32.G1Point(
            uint256(10618122112341199493900137777085309116326322770907264350195272589787378701180),
            uint256(16165072800657951947303753243782696863080169653557860745976278640432339243440)
        );
        vk.IC[4] = Groth16Pairing16x32.G1Point(
            uint256(14403130593251534597411331852233534925453424191543629645770453444081677447636),
            uint256(6475341554585147909640874075065777587987095268270215244790595072047948457891)
        );
        vk.IC[5] = Groth16Pairing16x32.G1Point(
            uint256(17046975255595405071088632299801715386768087236624703964491113837433871991264),
            uint256(2413509154544354258815055404395088405415160589669025743892884658036281265506)
        );
        vk.IC[6] = Groth16Pairing16x32.G1Point(
            uint256(4697393620706898222935161604475639337848666400831467208184242299017719654220),
            uint256(19165874918802421642432673544358375061588223496883755841076999496789757920472)
        );
        vk.IC[7] = Groth16Pairing16x32.G1Point(
            uint256(16241476927243096038461618094502142381373450064347670714692757646668380964802),
            uint256(6875390073096840353608696787569450823303817202277786137420993954427376987443)
        );
        vk.IC[8] = Groth16Pairing16x32.G1Point(
            uint256(17020009926804342487973902949938490147064967627947380839437156626183210173241),
            uint256(16184555687255595841983871139743623992632929358563905204689587849841920990601)
        );
        vk.IC[9] = Groth16Pairing16x32.G1Point(
            uint256(18541890240396893433946354259950560886063929920893049489203735653265528805725),
            uint256(4900400178356017283298984573886193442513903659163542804647418094913254624110)
        );
        vk.IC[10] = Groth16Pairing16x32.G1Point(
            uint256(7443272180081597844481783951569168713293222039437805875045716874666585763801),
            uint256(11136425955669289411092734969119253558149925891456188089487042038807425722517)
        );
        vk.IC[11] = Groth16Pairing16x32.G1Point(
            uint256(8526085762598364622372435828114674319704778830874708288042153371135396289764),
            uint256(542618829503807972073159136072444435864931763427256351843007090456308954082)
        );
        vk.IC[12] = Groth16Pairing16x32.G1Point(
            uint256(516046717231163849460142408954851637840638218475760940876728180437712170625),
            uint256(6674772383263131768275745062296562973174437840125336787133792129345221868355)
        );
        vk.IC[13] = Groth16Pairing16x32.G1Point(
            uint256(11583960574424948982063894728311658141329558157050871814108543064208521462029),
            uint256(4220201598763253046054410154406716815568910106209385969359363539620484684825)
        );
        vk.IC[14] = Groth16Pairing16x32.G1Point(
            uint256(14854304508623312372724870068080119803228278326019571494100198586293630597948),
            uint256(3255453258854454877096427403989907242811257552626542903464185929629711949753)
        );
        vk.IC[15] = Groth16Pairing16x32.G1Point(
            uint256(4058064109444904234219029771633070913253057019292185939499578925012516158289),
            uint256(10810819134883039163082717394768325324988829268976965847493194586857914402837)
        );
        vk.IC[16] = Groth16Pairing16x32.G1Point(
            uint256(20238395346804905464920860924251358018619394957137597168959839761490494599295),
            uint256(6014468660526828805681438530452799262628153233454953480077559976444351468005)
        );
        vk.IC[17] = Groth16Pairing16x32.G1Point(
            uint256(10214358580483984418728861681564967434182057797385766895407031502151491968022),
            uint256(6926829521521626215123505572524897598740894234558983152379167311168429128398)
        );
        vk.IC[18] = Groth16Pairing16x32.G1Point(
            uint256(7212139366383178910638222326726896927560469755290109169531464757911309947484),
            uint256(15007490971434558332674497794032268949318441719640827909395251850162964479544)
        );
        vk.IC[19] = Groth16Pairing16x32.G1Point(
            uint256(21207915639837574804405245017064367409030570411497377061071961205519326836300),
            uint256(14769173977711269168110085371983621871481560897475338656742716291653025764145)
        );
        vk.IC[20] = Groth16Pairing16x32.G1Point(
            uint256(9550627245941196920789098162001672698005271049167723306236791059209493861524),
            uint256(8074088475625358253854747081059337899893449667678610592653119063852657765017)
        );
        vk.IC[21] = Groth16Pairing16x32.G1Point(
            uint256(14939577931448508452648189919131868736658381152704895313197247741425172950830),
            uint256(2101833128645292736912429385340149066586711733797405762314345376208771569586)
        );
        vk.IC[22] = Groth16Pairing16x32.G1Point(
            uint256(10918366980974305713306394198823261225957312411398673429571641077407857063128),
            uint256(7325147735298054353421565129976778735450497283589110050504317505286168701314)
        );
        vk.IC[23] = Groth16Pairing16x32.G1Point(
            uint256(322898582687755813963888917008669457886227944421280529094027641106335000458),
            uint256(2607842073524771158542175037052706651613206498960317359310870092455565943023)
        );
        vk.IC[24] = Groth16Pairing16x32.G1Point(
            uint256(13602887996016592890307560456322151261224010759308028089305246825695871953225),
            uint256(13516962008652094104457318868674219742466407150260498039949712328148542112177)
        );
        vk.IC[25] = Groth16Pairing16x32.G1Point(
            uint256(7277687534049568320176308352932143733267845584112195908632513285703206187663),
            uint256(20210192482814695085313934981402554829848716877983438080543580126684430481305)
        );
        vk.IC[26] = Groth16Pairing16x32.G1Point(
            uint256(9616523845968869362855005953504659673329098110684421953477263045636028319657),
            uint256(21044753719946330078430358561327618408810918879194856051894801423870560547681)
        );
    }

    /*
    * @returns Whether the proof is valid given the verifying key and public inputs.
    */
    function verifyProof(
        uint256[2] memory a,
        uint256[2][2] memory b,
        uint256[2] memory c,
        uint256[26] memory input
    ) public view returns (bool) {
        // Proof elements must be less than the prime q.
        require(a[0] < PRIME_Q && a[1] < PRIME_Q, "verifier-aX-gte-prime-q");
        require(c[0] < PRIME_Q && c[1] < PRIME_Q, "verifier-cX-gte-prime-q");
        require(
            b[0][0] < PRIME_Q && b[0][1] < PRIME_Q && b[1][0] < PRIME_Q && b[1][1] < PRIME_Q,
            "verifier-bX-gte-prime-q"
        );

        Proof memory _proof;
        _proof.A = Groth16Pairing16x32.G1Point(a[0], a[1]);
        _proof.B = Groth16Pairing16x32.G2Point([b[0][0], b[0][1]], [b[1][0], b[1][1]]);
        _proof.C = Groth16Pairing16x32.G1Point(c[0], c[1]);

        VerifyingKey memory vk = verifyingKey();

        Groth16Pairing16x32.G1Point memory vk_x = Groth16Pairing16x32.G1Point(0, 0);
        vk_x = Groth16Pairing16x32.plus(vk_x, vk.IC[0]);

        for (uint256 i = 0; i < input.length; i++) {
            require(input[i] < SNARK_SCALAR_FIELD, "verifier-gte-snark-scalar-field");
            vk_x = Groth16Pairing16x32.plus(vk_x, Groth16Pairing16x32.scalar_mul(vk.IC[i + 1], input[i]));
        }

        return Groth16Pairing16x32.pairing(
            Groth16Pairing16x32.negate(_proof.A), _proof.B, vk.alfa1, vk.beta2, vk_x, vk.gamma2, _proof.C, vk.delta2
        );
    }
}
