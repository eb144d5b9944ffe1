//! Which module of a crate imports which, read from its source files, and
//! the import circles among them.
//!
//! Every `.rs` file under a crate's `src/` is mapped to its module path
//! (`a/mod.rs` and `a.rs` are `a`, `a/b.rs` is `a::b`, `lib.rs` and
//! `main.rs` the root; `src/bin/` holds other crates and is skipped), and
//! every path it names that starts with `crate::`, `super::` or `self::` is
//! collected: in `use` items, grouped ones (`use crate::{a::x, b::{y, z}}`)
//! included, and inline in expressions and types. Comments and string
//! literals are skipped; inline `mod name { ... }` blocks are followed, so
//! `super::` inside `mod tests { }` means the file's own module.
//!
//! A path from module `M` to module `P` makes one edge, at the deepest
//! module both lie in: from `M`'s child of it to `P`'s child of it. So
//! `crate::media::pipeline::x` used in `stream/session.rs` is the edge
//! `stream -> media` among the crate's top-level modules, and
//! `super::resume::y` there is `session -> resume` among the children of
//! `stream`. A path to an item of a common ancestor (`super::Thing` defined
//! in `mod.rs`) makes no edge: a parent is not a sibling. A circle is a
//! strongly connected component of more than one module among the children
//! of one module.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a path was named.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    /// Relative to the crate's `src/`.
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// An import between two children of `parent` (the module path, `crate`
/// for the crate root).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub parent: String,
    pub from: String,
    pub to: String,
}

/// The import edges of one crate, each with the places that made it.
#[derive(Debug, Default)]
pub struct ModuleGraph {
    pub edges: BTreeMap<Edge, Vec<Site>>,
}

/// A set of sibling modules that import each other in a circle.
#[derive(Debug)]
pub struct Cycle {
    pub parent: String,
    pub members: Vec<String>,
    /// The edges among the members, with their sites.
    pub edges: Vec<(Edge, Vec<Site>)>,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "import circle among the children of `{}`: {}",
            self.parent,
            self.members.join(", ")
        )?;
        for (edge, sites) in &self.edges {
            let sites: Vec<String> = sites.iter().map(Site::to_string).collect();
            writeln!(f, "  {} -> {}  ({})", edge.from, edge.to, sites.join(", "))?;
        }
        Ok(())
    }
}

impl ModuleGraph {
    /// Reads every `.rs` file under `src` (a crate's source directory).
    pub fn build(src: &Path) -> std::io::Result<Self> {
        let mut files = Vec::new();
        collect_rs_files(src, src, &mut files)?;
        files.sort();

        let mut modules: BTreeSet<Vec<String>> = BTreeSet::new();
        let mut parsed = Vec::new();
        for relative in files {
            let module = file_module(&relative);
            for depth in 1..=module.len() {
                modules.insert(module[..depth].to_vec());
            }
            let text = std::fs::read_to_string(src.join(&relative))?;
            let uses = scan(&module, &text);
            for inline in &uses.inline_modules {
                modules.insert(inline.clone());
            }
            parsed.push((relative, uses));
        }

        let mut graph = ModuleGraph::default();
        for (relative, uses) in parsed {
            for used in uses.paths {
                let Some(edge) = edge_for(&used.from, &used.target, &modules) else {
                    continue;
                };
                let site = Site {
                    file: relative.clone(),
                    line: used.line,
                };
                let sites = graph.edges.entry(edge).or_default();
                if !sites.contains(&site) {
                    sites.push(site);
                }
            }
        }
        Ok(graph)
    }

    /// The places where a child of `parent` named `from` imports its sibling `to`.
    pub fn sites(&self, parent: &str, from: &str, to: &str) -> &[Site] {
        let edge = Edge {
            parent: parent.to_string(),
            from: from.to_string(),
            to: to.to_string(),
        };
        self.edges.get(&edge).map_or(&[], Vec::as_slice)
    }

    /// Every import circle, at every level.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut by_parent: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
        for edge in self.edges.keys() {
            by_parent
                .entry(&edge.parent)
                .or_default()
                .entry(&edge.from)
                .or_default()
                .insert(&edge.to);
        }
        let mut cycles = Vec::new();
        for (parent, graph) in by_parent {
            for component in strongly_connected(&graph) {
                if component.len() < 2 {
                    continue;
                }
                let members: BTreeSet<&str> = component.iter().copied().collect();
                let edges = self
                    .edges
                    .iter()
                    .filter(|(edge, _)| {
                        edge.parent == parent
                            && members.contains(edge.from.as_str())
                            && members.contains(edge.to.as_str())
                    })
                    .map(|(edge, sites)| (edge.clone(), sites.clone()))
                    .collect();
                cycles.push(Cycle {
                    parent: parent.to_string(),
                    members: members.into_iter().map(str::to_string).collect(),
                    edges,
                });
            }
        }
        cycles
    }
}

/// The cycles as one readable text (empty when there are none).
pub fn report(cycles: &[Cycle]) -> String {
    cycles.iter().map(Cycle::to_string).collect()
}

fn collect_rs_files(src: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if dir == src && path.file_name().is_some_and(|n| n == "bin") {
                continue;
            }
            collect_rs_files(src, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src).unwrap_or(&path).to_path_buf();
            out.push(relative);
        }
    }
    Ok(())
}

/// `a/b.rs` -> `[a, b]`; `a/mod.rs` -> `[a]`; `lib.rs`, `main.rs` -> `[]`.
pub fn file_module(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.last_mut()
        && let Some(stem) = last.strip_suffix(".rs")
    {
        *last = stem.to_string();
    }
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.pop();
    }
    parts
}

/// The edge a path from module `from` to `target` makes, if any.
fn edge_for(from: &[String], target: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Edge> {
    let common = from.iter().zip(target).take_while(|(a, b)| a == b).count();
    if common >= from.len() || common >= target.len() {
        return None;
    }
    if !modules.contains(&target[..=common]) {
        return None;
    }
    let parent = if common == 0 {
        "crate".to_string()
    } else {
        from[..common].join("::")
    };
    Some(Edge {
        parent,
        from: from[common].clone(),
        to: target[common].clone(),
    })
}

/// One path named in a file, made absolute.
#[derive(Debug, PartialEq)]
struct UsedPath {
    /// The module it was named in (inline `mod` blocks included).
    from: Vec<String>,
    target: Vec<String>,
    line: usize,
}

#[derive(Debug, Default)]
struct FileUses {
    paths: Vec<UsedPath>,
    inline_modules: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Other(char),
}

/// Tokens of Rust source, without comments or literals' contents, each
/// with its line.
fn lex(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some(len) = raw_string_start(&chars, i) {
            // r"..", r#".."#, br#".."#, cr".."
            let hashes = len - 2 - usize::from(chars[i] != 'r');
            i += len;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#') {
                    i += 1 + hashes;
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
        } else if c == '"' || ((c == 'b' || c == 'c') && at(i + 1) == '"') {
            i += if c == '"' { 1 } else { 2 };
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if at(i) == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            let start = if c == 'b' { i + 1 } else { i };
            if at(start + 1) == '\\' {
                // '\n', '\'', '\u{..}'
                i = start + 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(start + 2) == '\'' {
                i = start + 3;
            } else if c == 'b' {
                tokens.push((Token::Ident("b".to_string()), line));
                i += 1;
            } else {
                // A lifetime: its name lexes as an identifier next.
                tokens.push((Token::Other('\''), line));
                i += 1;
            }
        } else if c == 'r' && at(i + 1) == '#' && is_ident_start(at(i + 2)) {
            i += 2;
        } else if is_ident_start(c) || c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push((Token::Ident(chars[start..i].iter().collect()), line));
        } else if c == ':' && at(i + 1) == ':' {
            tokens.push((Token::PathSep, line));
            i += 2;
        } else {
            let token = match c {
                '{' => Token::Open,
                '}' => Token::Close,
                ',' => Token::Comma,
                other => Token::Other(other),
            };
            tokens.push((token, line));
            i += 1;
        }
    }
    tokens
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// The length of a raw string's opening (`r#"` is 3) when one starts at `i`.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if matches!(chars.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    j += 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some(j + 1 - i)
}

/// The paths a file names, made absolute, and the inline modules it declares.
fn scan(module: &[String], text: &str) -> FileUses {
    let tokens = lex(text);
    let mut uses = FileUses::default();
    // Inline modules open around the current token: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].0 {
            Token::Open => depth += 1,
            Token::Close => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some((Token::Ident(name), _)), Some((Token::Open, _))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    let mut path = current(module, &inline);
                    path.push(name.clone());
                    uses.inline_modules.push(path);
                    depth += 1;
                    inline.push((name.clone(), depth));
                    i += 3;
                    continue;
                }
            }
            Token::Ident(word)
                if matches!(word.as_str(), "crate" | "super" | "self")
                    && matches!(tokens.get(i + 1), Some((Token::PathSep, _)))
                    && !matches!(i.checked_sub(1).map(|p| &tokens[p].0), Some(Token::PathSep)) =>
            {
                let here = current(module, &inline);
                let mut leaves = Vec::new();
                let end = path_tree(&tokens, i, Vec::new(), &mut leaves);
                for (segments, line) in leaves {
                    if let Some(target) = absolute(&here, &segments) {
                        uses.paths.push(UsedPath {
                            from: here.clone(),
                            target,
                            line,
                        });
                    }
                }
                // Braces of a `use` group were consumed: keep depth as it was.
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    uses
}

/// The module a token is in: the file's, and the inline modules open there.
fn current(module: &[String], inline: &[(String, usize)]) -> Vec<String> {
    let mut m = module.to_vec();
    m.extend(inline.iter().map(|(name, _)| name.clone()));
    m
}

/// Reads a path (or a `use` tree) from `i`; pushes each leaf (its segments
/// and line) and returns the index after it.
fn path_tree(
    tokens: &[(Token, usize)],
    mut i: usize,
    mut prefix: Vec<String>,
    leaves: &mut Vec<(Vec<String>, usize)>,
) -> usize {
    let mut line = tokens.get(i).map_or(0, |t| t.1);
    loop {
        match tokens.get(i) {
            Some((Token::Ident(segment), l)) => {
                line = *l;
                if segment == "self" && !prefix.is_empty() {
                    // `use a::{self, ..}`: the module itself.
                    i += 1;
                    break;
                }
                prefix.push(segment.clone());
                i += 1;
            }
            Some((Token::Open, _)) => {
                i += 1;
                loop {
                    match tokens.get(i) {
                        None => return i,
                        Some((Token::Close, _)) => return i + 1,
                        Some((Token::Comma, _)) => i += 1,
                        Some((Token::Ident(_), _)) | Some((Token::Open, _)) => {
                            i = path_tree(tokens, i, prefix.clone(), leaves);
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            _ => break,
        }
        if matches!(tokens.get(i), Some((Token::PathSep, _))) {
            i += 1;
        } else {
            break;
        }
    }
    if !prefix.is_empty() {
        leaves.push((prefix, line));
    }
    i
}

/// `crate::a`, `self::a`, `super::super::a` named in module `here`, as a
/// path from the crate root; `None` when it climbs above the root.
fn absolute(here: &[String], segments: &[String]) -> Option<Vec<String>> {
    let mut rest = segments.iter().peekable();
    let mut path: Vec<String> = match rest.next().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("self") => here.to_vec(),
        Some("super") => {
            let mut p = here.to_vec();
            p.pop()?;
            p
        }
        _ => return None,
    };
    while rest.peek().is_some_and(|s| *s == "super") {
        rest.next();
        path.pop()?;
    }
    path.extend(rest.cloned());
    Some(path)
}

/// Strongly connected components (Tarjan).
fn strongly_connected<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        state: &mut State<'a>,
    ) {
        let index = state.index.len();
        state.index.insert(node, index);
        state.low.insert(node, index);
        state.stack.push(node);
        state.on_stack.insert(node);
        for &next in graph.get(node).into_iter().flatten() {
            if !state.index.contains_key(next) {
                visit(next, graph, state);
                let low = state.low[node].min(state.low[next]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(next) {
                let low = state.low[node].min(state.index[next]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.push(top);
                if top == node {
                    break;
                }
            }
            component.sort_unstable();
            state.components.push(component);
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for &node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(node, graph, &mut state);
        }
    }
    state.components
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch crate source tree, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(label: &str, files: &[(&str, &str)]) -> Tree {
            let dir = std::env::temp_dir().join(format!(
                "module-graph-{label}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            for (path, text) in files {
                let path = dir.join(path);
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(path, text).expect("write");
            }
            Tree(dir)
        }

        fn graph(&self) -> ModuleGraph {
            ModuleGraph::build(&self.0).expect("build")
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn module_paths_of_files() {
        let m = |p: &str| file_module(Path::new(p)).join("::");
        assert_eq!(m("lib.rs"), "");
        assert_eq!(m("main.rs"), "");
        assert_eq!(m("a.rs"), "a");
        assert_eq!(m("a/mod.rs"), "a");
        assert_eq!(m("a/b.rs"), "a::b");
        assert_eq!(m("a/b/mod.rs"), "a::b");
        assert_eq!(m("a/tests.rs"), "a::tests");
    }

    #[test]
    fn finds_a_top_level_circle_with_its_sites() {
        let tree = Tree::new(
            "top",
            &[
                ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
                ("a.rs", "use crate::b::Thing;\n"),
                (
                    "b.rs",
                    "pub struct Thing;\nfn f() {\n    let _ = crate::a::make();\n}\n",
                ),
                ("c.rs", "use crate::a::make;\n"),
            ],
        );
        let cycles = tree.graph().cycles();
        assert_eq!(cycles.len(), 1, "{}", report(&cycles));
        let cycle = &cycles[0];
        assert_eq!(cycle.parent, "crate");
        assert_eq!(cycle.members, ["a", "b"]);
        let text = cycle.to_string();
        assert!(text.contains("a -> b  (a.rs:1)"), "{text}");
        assert!(text.contains("b -> a  (b.rs:3)"), "{text}");
        assert!(!text.contains("c.rs"), "{text}");
    }

    #[test]
    fn a_clean_tree_has_no_circle() {
        let tree = Tree::new(
            "clean",
            &[
                ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
                ("a.rs", "use crate::{b::One, c::Two};\n"),
                ("b.rs", "use crate::c::Two;\npub struct One;\n"),
                (
                    "c.rs",
                    "// use crate::a::x;\n/* crate::b::y */\nconst S: &str = \"crate::a::z\";\npub struct Two;\n",
                ),
            ],
        );
        let graph = tree.graph();
        assert!(graph.cycles().is_empty(), "{}", report(&graph.cycles()));
        assert_eq!(graph.sites("crate", "a", "b").len(), 1);
        assert_eq!(graph.sites("crate", "a", "c").len(), 1);
        assert_eq!(graph.sites("crate", "b", "c").len(), 1);
        assert!(graph.sites("crate", "c", "a").is_empty());
        assert!(graph.sites("crate", "c", "b").is_empty());
    }

    #[test]
    fn grouped_uses_and_folder_children() {
        let tree = Tree::new(
            "folder",
            &[
                ("lib.rs", "pub mod s;\npub mod p;\n"),
                ("p/mod.rs", "pub mod clock;\n"),
                ("p/clock.rs", "pub struct Clock;\n"),
                (
                    "s/mod.rs",
                    "pub mod x;\npub mod y;\npub mod z;\npub struct Shared;\n",
                ),
                (
                    "s/x.rs",
                    "use crate::{\n    p::clock::Clock,\n    s::{y::Y, z},\n};\n",
                ),
                ("s/y.rs", "use super::Shared;\npub struct Y;\n"),
                (
                    "s/z.rs",
                    "pub fn f() -> super::x::X { todo!() }\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::y::Y;\n}\n",
                ),
            ],
        );
        let graph = tree.graph();
        assert_eq!(graph.sites("crate", "s", "p"), [site("s/x.rs", 2)]);
        assert_eq!(graph.sites("s", "x", "y"), [site("s/x.rs", 3)]);
        assert_eq!(graph.sites("s", "x", "z"), [site("s/x.rs", 3)]);
        // An item of the parent is no sibling.
        assert!(graph.edges.keys().all(|e| e.to != "Shared"));
        // `super::*` inside `mod tests` is z itself; `super::super::y` is y.
        assert_eq!(graph.sites("s", "z", "y"), [site("s/z.rs", 5)]);
        let cycles = graph.cycles();
        assert_eq!(cycles.len(), 1, "{}", report(&cycles));
        assert_eq!(cycles[0].parent, "s");
        assert_eq!(cycles[0].members, ["x", "z"]);
        assert_eq!(graph.sites("s", "z", "x"), [site("s/z.rs", 1)]);
    }

    #[test]
    fn lexes_lifetimes_chars_and_raw_strings() {
        let tree = Tree::new(
            "lex",
            &[
                ("lib.rs", "pub mod a;\npub mod b;\n"),
                (
                    "a.rs",
                    "fn f<'a>(x: &'a str) -> char { let _ = r#\"crate::b::x \"# ; '\"' }\nfn g() { let _ = b'\\''; let _ = crate::b::h(); }\n",
                ),
                ("b.rs", "pub fn h() {}\n"),
            ],
        );
        assert_eq!(tree.graph().sites("crate", "a", "b"), [site("a.rs", 2)]);
    }

    fn site(file: &str, line: usize) -> Site {
        Site {
            file: PathBuf::from(file),
            line,
        }
    }
}
