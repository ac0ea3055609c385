//! Named generator presets for the trace families of the SpeQuloS evaluation.
//!
//! Only `seti` and `seti-simple` rest on published fits. The others approximate the paper's
//! other families from their description; every number there is an assumption, written down
//! here so it can be challenged, and each family is easy to replace by a real trace (`--trace`)
//! or by an edited config (`trace gen --preset NAME --print-config > my.toml`).

use crate::dist::Dist;
use crate::gen::{
    AvailabilityModel, BulkPreemption, CoresModel, GeneratorConfig, HostClass, SpeedModel,
    SpotMarket,
};

/// A named generator configuration with its provenance.
pub struct Preset {
    pub name: &'static str,
    pub summary: &'static str,
    /// Where the parameters come from, and which of them are our assumptions.
    pub provenance: &'static str,
    build: fn() -> GeneratorConfig,
}

impl Preset {
    pub fn config(&self) -> GeneratorConfig {
        (self.build)()
    }
}

/// Every preset, in the order `--help` lists them.
pub fn all() -> &'static [Preset] {
    &PRESETS
}

/// The configuration of the preset called `name`.
pub fn get(name: &str) -> Option<GeneratorConfig> {
    PRESETS.iter().find(|p| p.name == name).map(Preset::config)
}

pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

static PRESETS: [Preset; 7] = [
    Preset {
        name: "seti",
        summary: "SETI@home volunteers: the six availability clusters of Javadi, Kondo et al.",
        provenance: "Up/down fits per cluster from Javadi, Kondo, Vincent, Anderson (TPDS 2011), as \
                     used in ComBoS experiment scripts: up Gamma or Weibull (shape, scale in hours), \
                     down 3-phase hyper-exponential (probabilities, rates per hour). Assumptions: equal \
                     cluster fractions (the papers' fractions were not available), parameter order \
                     (shape, scale), rates in 1/hour; speeds N(1000, 400) clipped to [333, 3000] ops/s \
                     as in the original SpeQuloS simulator; one core.",
        build: seti,
    },
    Preset {
        name: "seti-simple",
        summary: "SETI@home, one class: Weibull(0.393, 2.964 h) up, LogNormal(-0.586, 2.844) h down",
        provenance: "The single-class SETI@home fit used as default by ComBoS and the DSLab BOINC \
                     simulator; stationary availability 0.246. Speeds N(1000, 400) clipped to \
                     [333, 3000] ops/s (original simulator); one core.",
        build: seti_simple,
    },
    Preset {
        name: "nd",
        summary: "Enterprise desktop grid (Notre Dame Condor-like): long, frequent availability",
        provenance: "Assumption: up Weibull(shape 0.55, scale 5 h) (mean 8.5 h), down LogNormal(-0.5, \
                     1.6) h (mean 2.2 h), availability about 0.80, in line with the high CPU \
                     availability reported for enterprise desktop grids (Kondo et al.). Replace with \
                     the FTA Notre Dame trace when available.",
        build: nd,
    },
    Preset {
        name: "g5klyo",
        summary: "Grid'5000 Lyon best-effort nodes: long uptimes, bulk preemptions",
        provenance: "Assumption: node up Weibull(0.7, 30 h) (mean 38 h), down LogNormal(0, 1) h; \
                     preemption waves every 8 h on average take each node with probability 0.5 for \
                     LogNormal(0.7, 0.8) h (mean 2.8 h), modelling regular OAR jobs reclaiming \
                     best-effort nodes. Homogeneous 1000 ops/s nodes. Replace with OAR logs.",
        build: g5klyo,
    },
    Preset {
        name: "g5kgre",
        summary: "Grid'5000 Grenoble best-effort nodes: busier site, longer preemptions",
        provenance: "Assumption: node up Weibull(0.6, 15 h) (mean 22.6 h), down LogNormal(0.3, 1.2) h; \
                     waves every 5 h take each node with probability 0.6 for LogNormal(1.0, 0.9) h \
                     (mean 4.1 h). Homogeneous 1000 ops/s nodes. Replace with OAR logs.",
        build: g5kgre,
    },
    Preset {
        name: "spot10",
        summary: "EC2 spot instances bought with a $10/hour budget",
        provenance: "Assumption: instances at a median $0.04/hour (2011 small-instance spot level), \
                     ln(price) mean-reverting with stationary sd 0.4 and step correlation 0.8, a change \
                     every hour on average, 3% of changes are x8 spikes; running instances = \
                     budget / price capped at the host count, newest terminated first. Homogeneous \
                     1000 ops/s. Replace the price with a real series via `prices`.",
        build: spot10,
    },
    Preset {
        name: "spot100",
        summary: "EC2 spot instances bought with a $100/hour budget",
        provenance: "As spot10 with a $100/hour budget (about 2500 instances at the median price, so a \
                     pool of up to 2500 hosts is mostly running).",
        build: spot100,
    },
];

fn hyper(probs: [f64; 3], rates: [f64; 3]) -> Dist {
    Dist::Hyperexp {
        probs: probs.to_vec(),
        rates: rates.to_vec(),
    }
}

fn seti() -> GeneratorConfig {
    let gamma = |shape, scale| Dist::Gamma { shape, scale };
    let clusters = [
        (
            gamma(0.289, 311.711),
            hyper([0.141, 0.683, 0.176], [0.008, 37.816, 1.013]),
        ),
        (
            gamma(0.340, 152.216),
            hyper([0.142, 0.660, 0.198], [0.013, 30.636, 0.777]),
        ),
        (
            Dist::Weibull {
                shape: 0.431,
                scale: 1.682,
            },
            hyper([0.398, 0.305, 0.298], [0.031, 11.566, 1.322]),
        ),
        (
            gamma(0.357, 371.622),
            hyper([0.106, 0.743, 0.151], [0.009, 45.241, 0.961]),
        ),
        (
            gamma(0.342, 89.223),
            hyper([0.179, 0.566, 0.255], [0.016, 27.587, 0.536]),
        ),
        (
            gamma(0.357, 43.652),
            hyper([0.338, 0.390, 0.272], [0.029, 30.121, 1.069]),
        ),
    ];
    let classes = clusters
        .into_iter()
        .enumerate()
        .map(|(i, (up, down))| HostClass {
            name: format!("seti-{}", i + 1),
            fraction: 1.0,
            up,
            down,
            speed: None,
        })
        .collect();
    renewal("seti", classes, None, SpeedModel::default())
}

fn seti_simple() -> GeneratorConfig {
    let class = HostClass {
        name: "seti".into(),
        fraction: 1.0,
        up: Dist::Weibull {
            shape: 0.393,
            scale: 2.964,
        },
        down: Dist::Lognormal {
            mu: -0.586,
            sigma: 2.844,
        },
        speed: None,
    };
    renewal("seti-simple", vec![class], None, SpeedModel::default())
}

fn nd() -> GeneratorConfig {
    let class = HostClass {
        name: "desktop".into(),
        fraction: 1.0,
        up: Dist::Weibull {
            shape: 0.55,
            scale: 5.0,
        },
        down: Dist::Lognormal {
            mu: -0.5,
            sigma: 1.6,
        },
        speed: None,
    };
    renewal("nd", vec![class], None, SpeedModel::default())
}

fn g5k(name: &str, up: Dist, down: Dist, bulk: BulkPreemption) -> GeneratorConfig {
    let class = HostClass {
        name: "node".into(),
        fraction: 1.0,
        up,
        down,
        speed: None,
    };
    renewal(
        name,
        vec![class],
        Some(bulk),
        SpeedModel::Constant { value: 1000.0 },
    )
}

fn g5klyo() -> GeneratorConfig {
    g5k(
        "g5klyo",
        Dist::Weibull {
            shape: 0.7,
            scale: 30.0,
        },
        Dist::Lognormal {
            mu: 0.0,
            sigma: 1.0,
        },
        BulkPreemption {
            mean_interval: 8.0,
            fraction: 0.5,
            duration: Dist::Lognormal {
                mu: 0.7,
                sigma: 0.8,
            },
        },
    )
}

fn g5kgre() -> GeneratorConfig {
    g5k(
        "g5kgre",
        Dist::Weibull {
            shape: 0.6,
            scale: 15.0,
        },
        Dist::Lognormal {
            mu: 0.3,
            sigma: 1.2,
        },
        BulkPreemption {
            mean_interval: 5.0,
            fraction: 0.6,
            duration: Dist::Lognormal {
                mu: 1.0,
                sigma: 0.9,
            },
        },
    )
}

fn spot(name: &str, budget: f64) -> GeneratorConfig {
    GeneratorConfig {
        name: name.into(),
        availability: AvailabilityModel::Spot(SpotMarket {
            budget,
            base_price: 0.04,
            volatility: 0.4,
            persistence: 0.8,
            change_mean: 1.0,
            spike_prob: 0.03,
            spike_factor: 8.0,
            prices: None,
        }),
        speed: SpeedModel::Constant { value: 1000.0 },
        cores: CoresModel::default(),
    }
}

fn spot10() -> GeneratorConfig {
    spot("spot10", 10.0)
}

fn spot100() -> GeneratorConfig {
    spot("spot100", 100.0)
}

fn renewal(
    name: &str,
    classes: Vec<HostClass>,
    bulk: Option<BulkPreemption>,
    speed: SpeedModel,
) -> GeneratorConfig {
    GeneratorConfig {
        name: name.into(),
        availability: AvailabilityModel::Renewal { classes, bulk },
        speed,
        cores: CoresModel::default(),
    }
}
