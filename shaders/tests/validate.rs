//! Every kernel source (its shared parts and its own file, concatenated) parses and validates with
//! naga (no GPU needed), every shared function has one home, every kernel fits WebGPU's default
//! binding limits, and every [`Kernel`]'s metadata
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
    // The default capabilities plus f16 packing in f32 (pack2x16float is core WGSL) are what
    // every WebGPU adapter has: no f16 arithmetic, no subgroups, no f64. Files that need more
    // declare it with `enable`, and are validated with those capabilities.
    let mut caps = Capabilities::default() | Capabilities::SHADER_FLOAT16_IN_FLOAT32;
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

fn read(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("wgsl")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `.wgsl` files of a folder under `wgsl/`, relative to `wgsl/`.
fn files_in(sub: &str) -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("wgsl")
        .join(sub);
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("wgsl dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("wgsl") {
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            files.insert(if sub.is_empty() {
                name.to_owned()
            } else {
                format!("{sub}/{name}")
            });
        }
    }
    files
}

#[test]
fn every_kernel_source_validates() {
    // A kernel's source is its shared parts and its own file: that concatenation is what naga
    // validates (a shared file alone may use another shared file's functions).
    for k in ALL {
        parse(k.name, k.source);
    }
    // Every kernel file on disk is shipped by some kernel, and every kernel's file is on disk;
    // likewise every shared file is a part of some kernel.
    let shipped: BTreeSet<String> = ALL.iter().map(|k| k.file.to_owned()).collect();
    assert_eq!(
        files_in(""),
        shipped,
        "files in wgsl/ vs files named by rewardkit_shaders::ALL"
    );
    let used: BTreeSet<String> = ALL
        .iter()
        .flat_map(|k| k.parts.iter().map(|p| format!("shared/{p}")))
        .collect();
    assert_eq!(
        files_in("shared"),
        used,
        "files in wgsl/shared/ vs the parts named by rewardkit_shaders::ALL"
    );
}

#[test]
fn sources_are_their_parts_concatenated() {
    for k in ALL {
        let mut want = String::new();
        for p in k.parts {
            want.push_str(&read(&format!("shared/{p}")));
        }
        want.push_str(&read(k.file));
        assert!(
            k.source == want,
            "{}: source is not parts {:?} + {}",
            k.name,
            k.parts,
            k.file
        );
        // No part is listed twice (a function would be defined twice).
        let distinct: BTreeSet<_> = k.parts.iter().collect();
        assert_eq!(
            distinct.len(),
            k.parts.len(),
            "{}: a part listed twice",
            k.name
        );
    }
}

/// `(name, body without whitespace)` of every `fn` declared at the top level of a WGSL text.
fn functions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest
        .find("\nfn ")
        .or_else(|| rest.starts_with("fn ").then_some(0))
    {
        let start = if rest[i..].starts_with('\n') {
            i + 1
        } else {
            i
        };
        let decl = &rest[start + 3..];
        let name: String = decl
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let open = decl.find('{').expect("fn body");
        let mut depth = 0usize;
        let mut end = open;
        for (j, c) in decl[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body: String = decl[open..=end]
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<String>()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        out.push((name, body));
        rest = &decl[end..];
    }
    out
}

#[test]
fn every_function_has_one_home() {
    // A shared function (wgsl/shared/) is declared in exactly one shared file, and no function
    // body appears twice anywhere (under any name): shared code lives in wgsl/shared/ and is
    // concatenated. Kernel files may each implement an interface that a shared part calls
    // (matmul's load_a4/load_b4/store_c), with their own bodies.
    let mut shared_names = std::collections::BTreeMap::new();
    let mut kernel_names = std::collections::BTreeMap::new();
    let mut bodies = std::collections::BTreeMap::new();
    let mut count = 0;
    let shared: Vec<String> = files_in("shared").into_iter().collect();
    let kernels: Vec<String> = files_in("").into_iter().collect();
    for (f, is_shared) in shared
        .iter()
        .map(|f| (f, true))
        .chain(kernels.iter().map(|f| (f, false)))
    {
        for (name, body) in functions(&read(f)) {
            count += 1;
            if is_shared {
                if let Some(prev) = shared_names.insert(name.clone(), f.clone()) {
                    panic!("fn {name} is declared in {prev} and in {f}");
                }
            } else {
                let prev = kernel_names.insert((f.clone(), name.clone()), ());
                assert!(prev.is_none(), "fn {name} declared twice in {f}");
            }
            // Trivial bodies (a single call or return) may coincide.
            if body.len() > 40 {
                if let Some((pn, pf)) = bodies.insert(body, (name.clone(), f.clone())) {
                    panic!("fn {name} ({f}) has the same body as fn {pn} ({pf})");
                }
            }
        }
    }
    assert!(count > 50, "the scanner found only {count} functions");
    println!(
        "{count} functions in {} files, each with one home",
        shared.len() + kernels.len()
    );
}

/// WebGPU's default `maxStorageBuffersPerShaderStage` and `maxUniformBuffersPerShaderStage`:
/// every kernel fits them, so the same kernels run in a browser.
const WEBGPU_MAX_STORAGE: usize = 8;
const WEBGPU_MAX_UNIFORM: usize = 12;
const WEBGPU_MAX_INVOCATIONS: u32 = 256;

#[test]
fn every_kernel_fits_webgpu_default_limits() {
    for k in ALL {
        let storage = k
            .bindings
            .iter()
            .filter(|b| matches!(b.access, Access::Read | Access::ReadWrite))
            .count();
        let uniform = k.bindings.len() - storage;
        assert!(
            storage <= WEBGPU_MAX_STORAGE,
            "{}: {storage} storage buffers > {WEBGPU_MAX_STORAGE}",
            k.name
        );
        assert!(
            uniform <= WEBGPU_MAX_UNIFORM,
            "{}: {uniform} uniforms",
            k.name
        );
        let [x, y, z] = k.workgroup_size;
        assert!(
            x * y * z <= WEBGPU_MAX_INVOCATIONS,
            "{}: {} invocations per workgroup",
            k.name,
            x * y * z
        );
    }
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
    let own = read(k.file);
    let line = format!("// CPU reference: {}", k.cpu_reference);
    assert!(own.contains(&line), "{}: missing `{line}`", k.name);
    // The algorithm is described at the top of the file and of every shared part.
    assert!(own.starts_with("// "), "{}: opening comment", k.name);
    for p in k.parts {
        assert!(
            read(&format!("shared/{p}")).starts_with("// "),
            "shared/{p}: opening comment"
        );
    }
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
