//! Every WGSL file parses and validates with naga (no GPU needed), and every [`Kernel`]'s metadata
//! matches its parsed module: the entry point exists, its bindings have the declared order and
//! access modes, the workgroup size is the declared one (for the default override values), the
//! overrides exist, and the file names its CPU reference.
#![allow(clippy::print_stdout, reason = "test output")]

use std::collections::BTreeSet;

use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, StorageAccess};
use rewardkit_shaders::{ALL, Access, Kernel};

fn parse(file: &str, source: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(source)));
    // The default capabilities are what every WebGPU adapter has: no f16, no subgroups, no f64.
    // Files that need more declare it with `enable`, and are validated with those capabilities.
    let mut caps = Capabilities::default();
    if source.contains("enable f16;") {
        caps |= Capabilities::SHADER_FLOAT16;
    }
    if source.contains("enable subgroups;") {
        caps |= Capabilities::SUBGROUP;
    }
    Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(source)));
    module
}

#[test]
fn every_file_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wgsl");
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("wgsl dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("wgsl") {
            let source = std::fs::read_to_string(&path).expect("read");
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            parse(name, &source);
            files.insert(name.to_owned());
        }
    }
    // Every file on disk is shipped by some kernel, and every kernel's file is on disk.
    let shipped: BTreeSet<String> = ALL.iter().map(|k| k.file.to_owned()).collect();
    assert_eq!(
        files, shipped,
        "files in wgsl/ vs files named by rewardkit_shaders::ALL"
    );
}

/// The workgroup size with every override at its default value.
fn workgroup_size(module: &naga::Module, ep: &naga::EntryPoint) -> [u32; 3] {
    let mut size = ep.workgroup_size;
    let Some(ov) = ep.workgroup_size_overrides else {
        return size;
    };
    for (dim, expr) in size.iter_mut().zip(ov) {
        let Some(mut h) = expr else { continue };
        // Follow Override(o) to the override's default, down to a literal.
        loop {
            match module.global_expressions[h] {
                naga::Expression::Override(o) => {
                    h = module.overrides[o]
                        .init
                        .expect("override without a default");
                }
                naga::Expression::Literal(naga::Literal::U32(v)) => {
                    *dim = v;
                    break;
                }
                naga::Expression::Literal(naga::Literal::AbstractInt(v)) => {
                    *dim = u32::try_from(v).expect("u32");
                    break;
                }
                ref other => panic!("unsupported workgroup size expression {other:?}"),
            }
        }
    }
    size
}

fn check_kernel(k: &Kernel) {
    let module = parse(k.file, k.source);
    let ep = module
        .entry_points
        .iter()
        .find(|e| e.name == k.entry)
        .unwrap_or_else(|| panic!("{}: no entry point {}", k.name, k.entry));
    assert_eq!(ep.stage, naga::ShaderStage::Compute, "{}", k.name);
    assert_eq!(
        workgroup_size(&module, ep),
        k.workgroup_size,
        "{}: workgroup size",
        k.name
    );
    // The bindings the entry point can reach: every global resource of group 0 with its binding
    // index. A file may declare resources that only some entry points use, so compare the declared
    // list against the resources with those binding indices.
    let mut by_binding = std::collections::BTreeMap::new();
    for (_, var) in module.global_variables.iter() {
        if let Some(rb) = &var.binding {
            assert_eq!(rb.group, 0, "{}: only group 0 is used", k.name);
            let access = match var.space {
                AddressSpace::Uniform => Access::Uniform,
                AddressSpace::Storage { access } if access.contains(StorageAccess::STORE) => {
                    Access::ReadWrite
                }
                AddressSpace::Storage { .. } => Access::Read,
                other => panic!("{}: unexpected address space {other:?}", k.name),
            };
            let name = var.name.clone().unwrap_or_default();
            let prev = by_binding.insert(rb.binding, (name, access));
            assert!(
                prev.is_none(),
                "{}: binding {} declared twice",
                k.name,
                rb.binding
            );
        }
    }
    assert_eq!(
        by_binding.len(),
        k.bindings.len(),
        "{}: declared bindings vs the file's resources",
        k.name
    );
    for (i, b) in k.bindings.iter().enumerate() {
        let idx = u32::try_from(i).expect("small");
        let (name, access) = by_binding
            .get(&idx)
            .unwrap_or_else(|| panic!("{}: no binding {i}", k.name));
        assert_eq!(
            (name.as_str(), *access),
            (b.name, b.access),
            "{}: binding {i}",
            k.name
        );
    }
    let overrides: BTreeSet<String> = module
        .overrides
        .iter()
        .filter_map(|(_, o)| o.name.clone())
        .collect();
    for o in k.overrides {
        assert!(overrides.contains(*o), "{}: no override {o}", k.name);
    }
    assert_eq!(
        overrides.len(),
        k.overrides.len(),
        "{}: every override is listed",
        k.name
    );
    let line = format!("// CPU reference: {}", k.cpu_reference);
    assert!(k.source.contains(&line), "{}: missing `{line}`", k.name);
    // The algorithm is described at the top of the file.
    assert!(k.source.starts_with("// "), "{}: opening comment", k.name);
}

#[test]
fn metadata_matches_modules() {
    let mut names = BTreeSet::new();
    for k in ALL {
        assert!(names.insert(k.name), "duplicate kernel name {}", k.name);
        check_kernel(k);
    }
    println!("{} kernels in {} files checked", ALL.len(), {
        let f: BTreeSet<_> = ALL.iter().map(|k| k.file).collect();
        f.len()
    });
}
