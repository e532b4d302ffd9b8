//! The bridge from the generated WIT exports to a [`Module`].

use std::sync::OnceLock;

use crate::bindings::exports::mosaic::platform::guest::{self as wit, Guest};
use crate::{Module, Request, Router, events::Event};

/// Implemented by the type [`crate::export_module!`] declares.
pub trait GuestExports {
    type Module: Module;
}

fn router<M: Module>() -> &'static Router {
    // One module per component, so one router per instance.
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(M::router)
}

impl<T: GuestExports> Guest for T {
    fn describe() -> wit::Manifest {
        T::Module::manifest().into_wit(router::<T::Module>())
    }

    fn handle(req: wit::Request) -> wit::Response {
        let req = Request::from_wit(req);
        router::<T::Module>().dispatch(&req).into_wit()
    }

    fn on_event(ev: wit::Event) -> Result<(), String> {
        T::Module::on_event(Event::from_wit(ev))
    }

    fn on_schedule(schedule: String, fired_at: u64) -> Result<(), String> {
        T::Module::on_schedule(&schedule, fired_at)
    }
}
