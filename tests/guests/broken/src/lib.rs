//! Panics in `describe`. The host must refuse it and serve the other modules.

use mosaic_sdk::prelude::*;

struct Broken;

impl Module for Broken {
    fn manifest() -> Manifest {
        panic!("broken: describe fails on purpose")
    }

    fn router() -> Router {
        Router::new()
    }
}

export_module!(Broken);
