//! `REWARDKIT_GPU_ADAPTER` naming no adapter gives `GpuError::NoAdapter` listing the adapters, not
//! a panic (wgpu's `initialize_adapter_from_env` would panic). Its own test binary, so setting the
//! variable affects no other test.

use rewardkit_gpu::{ADAPTER_ENV, GpuContext, GpuError};

#[test]
fn unknown_adapter_name_is_a_clear_error() {
    // SAFETY-free: edition 2024 makes set_var unsafe; this crate forbids unsafe, so run a child
    // process of this same test binary with the variable set instead.
    if std::env::var(ADAPTER_ENV).as_deref() == Ok("no-such-adapter-xyz") {
        let e = GpuContext::new_blocking().expect_err("no adapter has that name");
        assert!(matches!(e, GpuError::NoAdapter { .. }), "{e:?}");
        assert!(e.to_string().contains("no-such-adapter-xyz"), "{e}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let status = std::process::Command::new(exe)
        .args([
            "--exact",
            "unknown_adapter_name_is_a_clear_error",
            "--nocapture",
        ])
        .env(ADAPTER_ENV, "no-such-adapter-xyz")
        .status()
        .expect("run child");
    assert!(status.success(), "child test failed");
}
