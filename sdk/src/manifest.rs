//! What a module declares about itself.

use crate::Router;
use crate::bindings::exports::mosaic::platform::guest as wit;
use crate::store::Collection;

pub use wit::Capability;

/// The module's manifest, minus the routes (taken from its [`Router`]).
#[derive(Debug, Clone)]
pub struct Manifest {
    key: String,
    name: String,
    version: String,
    description: String,
    icon: String,
    core: bool,
    sort_order: u32,
    dependencies: Vec<String>,
    subscriptions: Vec<String>,
    indexes: Vec<wit::Index>,
    capabilities: Vec<Capability>,
    schedules: Vec<wit::Schedule>,
}

impl Manifest {
    pub fn new(key: &str, name: &str, version: &str) -> Self {
        Self {
            key: key.into(),
            name: name.into(),
            version: version.into(),
            description: String::new(),
            icon: String::new(),
            core: false,
            sort_order: 100,
            dependencies: Vec::new(),
            subscriptions: Vec::new(),
            indexes: Vec::new(),
            capabilities: Vec::new(),
            schedules: Vec::new(),
        }
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    pub fn icon(mut self, icon: &str) -> Self {
        self.icon = icon.into();
        self
    }

    /// Core modules are enabled for every tenant and cannot be switched off.
    pub fn core(mut self) -> Self {
        self.core = true;
        self
    }

    pub fn sort_order(mut self, order: u32) -> Self {
        self.sort_order = order;
        self
    }

    /// Allows `modules::call(module, ..)`.
    pub fn depends_on(mut self, module: &str) -> Self {
        self.dependencies.push(module.into());
        self
    }

    /// Delivers events whose kind matches `pattern` (`employee.*`) to `on_event`.
    pub fn subscribe(mut self, pattern: &str) -> Self {
        self.subscriptions.push(pattern.into());
        self
    }

    /// Declares `collection`'s indexes (a collection without any needs no
    /// declaration).
    pub fn collection(mut self, collection: &Collection) -> Self {
        for index in collection.declared_indexes() {
            self.indexes.push(wit::Index {
                collection: collection.name().into(),
                fields: index.fields.iter().map(|f| (*f).to_owned()).collect(),
                unique: index.unique,
            });
        }
        self
    }

    /// Calls [`crate::Module::on_schedule`] with `id` every `seconds` (at least 60),
    /// once for each tenant that has the module enabled.
    pub fn every(mut self, id: &str, seconds: u32) -> Self {
        self.schedules.push(wit::Schedule {
            id: id.into(),
            cadence: wit::Cadence::Every(seconds),
        });
        self
    }

    /// Calls [`crate::Module::on_schedule`] with `id` when the five-field cron
    /// `expression` matches in each tenant's time zone: `"30 2 * * *"` is 02:30
    /// every day, `"0 9 * * MON-FRI"` 09:00 on weekdays.
    pub fn cron(mut self, id: &str, expression: &str) -> Self {
        self.schedules.push(wit::Schedule {
            id: id.into(),
            cadence: wit::Cadence::Cron(expression.into()),
        });
        self
    }

    pub fn capability(mut self, capability: Capability) -> Self {
        self.capabilities.push(capability);
        self
    }

    pub(crate) fn into_wit(self, router: &Router) -> wit::Manifest {
        wit::Manifest {
            key: self.key,
            name: self.name,
            version: self.version,
            description: self.description,
            icon: self.icon,
            core: self.core,
            sort_order: self.sort_order,
            routes: router.to_wit(),
            dependencies: self.dependencies,
            subscriptions: self.subscriptions,
            indexes: self.indexes,
            capabilities: self.capabilities,
            schedules: self.schedules,
        }
    }
}
