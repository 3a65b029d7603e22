//! The README's code blocks are the tested example's files, byte for byte.

/// The text between `<!-- NAME:start -->` + a fence line and the closing fence.
fn readme_block<'a>(readme: &'a str, name: &str) -> &'a str {
    let start = readme
        .find(&format!("<!-- {name}:start -->"))
        .expect("start marker");
    let body = &readme[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let body = &body[body.find('\n').unwrap() + 1..]; // the opening fence
    &body[..body.find("```\n<!--").expect("closing fence")]
}

#[test]
fn readme_snippets_are_the_tested_example() {
    let readme = include_str!("../../README.md");
    assert_eq!(
        readme_block(readme, "usage"),
        include_str!("../../examples/bot/src/index.ts"),
        "README's Usage block must equal examples/bot/src/index.ts"
    );
    assert_eq!(
        readme_block(readme, "wrangler-jsonc"),
        include_str!("../../examples/bot/wrangler.jsonc"),
        "README's wrangler.jsonc block must equal examples/bot/wrangler.jsonc"
    );
}
