"""The paper's searched architectures and published figures, as plain data (no imports), so that
net_config parsing, the zoo and the weights API can all read them without importing each other."""

PAPER = "Fang et al., Densely Connected Search Space for More Flexible Neural Architecture Search, CVPR 2020"

_A = ("[[16,16],'mbconv_k3_t1',[],0,1] | [[16,24],'mbconv_k3_t3',[],0,2] | "
      "[[24,48],'mbconv_k7_t6',['mbconv_k7_t3'],1,2] | [[48,72],'mbconv_k5_t6',['mbconv_k3_t3','mbconv_k5_t3'],2,2] | "
      "[[72,128],'mbconv_k3_t3',['mbconv_k3_t3'],1,1] | "
      "[[128,176],'mbconv_k3_t3',['mbconv_k3_t6','mbconv_k3_t3','mbconv_k3_t6'],3,2] | "
      "[[176,384],'mbconv_k5_t6',[],0,1] | [[384,1984],'conv1_1']\nnet_type: mbv2")
_B = ("[[16,16],'mbconv_k3_t1',[],0,1] | [[16,24],'mbconv_k3_t6',[],0,2] | "
      "[[24,48],'mbconv_k5_t3',['mbconv_k3_t3','mbconv_k3_t3'],2,2] | "
      "[[48,72],'mbconv_k3_t6',['mbconv_k3_t3','mbconv_k5_t3'],2,2] | [[72,128],'mbconv_k3_t6',['mbconv_k3_t3'],1,1] | "
      "[[128,160],'mbconv_k3_t6',['mbconv_k3_t3','mbconv_k5_t6','mbconv_k5_t3'],3,2] | "
      "[[160,176],'mbconv_k3_t3',['mbconv_k3_t6','mbconv_k3_t6'],2,1] | [[176,384],'mbconv_k7_t6',[],0,1] | "
      "[[384,1984],'conv1_1']\nnet_type: mbv2")
_C = ("[[16,16],'mbconv_k3_t1',[],0,1] | [[16,24],'mbconv_k3_t6',[],0,2] | "
      "[[24,48],'mbconv_k7_t6',['mbconv_k3_t3'],1,2] | [[48,72],'mbconv_k5_t6',['mbconv_k3_t6','mbconv_k3_t3'],2,2] | "
      "[[72,128],'mbconv_k3_t6',['mbconv_k3_t3','mbconv_k3_t3'],2,1] | "
      "[[128,160],'mbconv_k3_t6',['mbconv_k7_t3','mbconv_k5_t6','mbconv_k7_t3'],3,2] | "
      "[[160,176],'mbconv_k3_t3',['mbconv_k3_t6','mbconv_k3_t6','mbconv_k3_t6'],3,1] | "
      "[[176,384],'mbconv_k7_t6',[],0,1] | [[384,1984],'conv1_1']\nnet_type: mbv2")

# name -> (net_config text, published figures: MACs (M), latency (ms, TITAN-XP batch 32), top-1 (%))
PAPER_NETS = {
    "densenas_a": (_A, {"macs_m": 251, "latency_ms": 13.6, "top1": 73.1}),
    "densenas_b": (_B, {"macs_m": 314, "latency_ms": 15.4, "top1": 74.6}),
    "densenas_c": (_C, {"macs_m": 361, "latency_ms": 17.9, "top1": 75.3}),
}
