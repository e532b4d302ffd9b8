//! Contract `mosaic:platform@0.2.0`: 0.1.0 and schedules (`on-schedule`, manifest
//! `schedules`) and files. Frozen with `wit/0.2.0/` once released.

use wasmtime::component::{HasSelf, Linker};

use crate::store::files::FileInfo;

wasmtime::component::bindgen!({
    path: "../wit/0.2.0",
    world: "mosaic:platform/module",
    imports: { default: async | trappable },
    exports: { default: async },
});

super::shared::adapter!();

use self::mosaic::platform::files;

pub const VERSION: &str = "0.2.0";

pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    Module::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)
}

impl From<guest::Capability> for types::Capability {
    fn from(capability: guest::Capability) -> Self {
        match capability {
            guest::Capability::Events => Self::Events,
            guest::Capability::Notify => Self::Notify,
            guest::Capability::Billing => Self::Billing,
            guest::Capability::Files => Self::Files,
        }
    }
}

fn schedules_in(m: &mut guest::Manifest) -> Vec<types::ScheduleSpec> {
    std::mem::take(&mut m.schedules)
        .into_iter()
        .map(|s| types::ScheduleSpec {
            id: s.id,
            cadence: match s.cadence {
                guest::Cadence::Every(seconds) => types::Cadence::Every(seconds),
                guest::Cadence::Cron(expression) => types::Cadence::Cron(expression),
            },
        })
        .collect()
}

impl From<FileInfo> for files::FileInfo {
    fn from(file: FileInfo) -> Self {
        let ms = |v: i64| u64::try_from(v).unwrap_or(0);
        Self {
            id: file.id,
            name: file.name,
            content_type: file.content_type,
            size: ms(file.size),
            sha256: file.sha256,
            created_at: ms(file.created_at),
        }
    }
}

impl files::Host for HostState {
    async fn put(
        &mut self,
        name: String,
        content_type: String,
        content: Vec<u8>,
    ) -> Res<files::FileInfo> {
        let result = host::files::put(self.ctx()?, &name, &content_type, content).await;
        Ok(answer(result))
    }

    async fn get(&mut self, id: String) -> Res<Option<files::File>> {
        let result = host::files::get(self.ctx()?, &id).await;
        Ok(answer(result.map(|found| {
            found.map(|(info, content)| files::File {
                info: info.into(),
                content,
            })
        })))
    }

    async fn stat(&mut self, id: String) -> Res<Option<files::FileInfo>> {
        let result = host::files::stat(self.ctx()?, &id).await;
        Ok(answer(result.map(|found| found.map(Into::into))))
    }

    async fn delete(&mut self, id: String) -> Res<bool> {
        Ok(answer(host::files::delete(self.ctx()?, &id).await))
    }

    async fn list(&mut self, limit: u32, cursor: Option<String>) -> Res<files::FilePage> {
        let result = host::files::list(self.ctx()?, limit, cursor.as_deref()).await;
        Ok(answer(result.map(|page| files::FilePage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        })))
    }
}
