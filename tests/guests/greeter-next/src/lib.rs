//! Version 2 of the test guest `greeter`: the same source, built under another
//! package name and version (see `NEXT` there).

include!("../../greeter/src/lib.rs");
