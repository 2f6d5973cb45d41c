// MECC Volunteer: builds the two committed stylesheets (`npm run build:css`).
//
// 1. Sass compiles frontend/app.scss (the nhsuk-frontend modules we use, plus _app.scss).
// 2. PurgeCSS keeps only the rules whose classes, elements and attributes appear in the templates,
//    in their original order, so nothing cascades differently:
//    - css/app.min.css, for volunteer pages: what the base layout, its partials and macros, the error pages
//      and the volunteers' own pages use. SPEC 7 gives each volunteer page 30 KB (gzip) with its CSS and JS.
//    - css/staff.min.css, for staff pages (/manage/): what any template uses, so it also holds the tables,
//      the roster, the review's charts and the printed board report and attendance register.
//
// A class a template builds from a variable is not in its text: list its pattern in SAFELIST.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PurgeCSS } from "purgecss";
import * as sass from "sass";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "mecc_volunteer/static/css");

// Classes made in templates from a variable: the status tag's colour (nhsuk-tag--{{ colour }}) and an
// input's width (nhsuk-input--width-{{ width }}).
const SAFELIST = { standard: [/^nhsuk-tag--/, /^nhsuk-input--width-/] };

// Templates only staff see, although they live with the volunteers' and the survey's templates.
const STAFF_TEMPLATES_AMONG_VOLUNTEERS = [
  "mecc_volunteer/volunteers/templates/volunteers/volunteer_data*.html",
  "mecc_volunteer/evaluation/templates/evaluation/invitations.html",
];

const STYLESHEETS = {
  "app.min.css": {
    content: [
      "mecc_volunteer/templates/*.html",
      "mecc_volunteer/templates/_macros/*.html",
      "mecc_volunteer/templates/errors/*.html",
      "mecc_volunteer/volunteers/templates/volunteers/*.html",
      "mecc_volunteer/evaluation/templates/evaluation/*.html",
    ],
    skippedContentGlobs: STAFF_TEMPLATES_AMONG_VOLUNTEERS,
  },
  "staff.min.css": {
    // Python too: the second factor's QR code is an <svg class="app-qr-code"> made in auth/second_factor.py.
    content: ["mecc_volunteer/**/templates/**/*.html", "mecc_volunteer/**/*.py"],
    skippedContentGlobs: ["mecc_volunteer/templates/email/**"],
  },
};

const compiled = sass.compile(path.join(root, "frontend/app.scss"), {
  style: "compressed",
  loadPaths: [path.join(root, "node_modules")],
});

process.chdir(root);
for (const [name, { content, skippedContentGlobs }] of Object.entries(STYLESHEETS)) {
  const [result] = await new PurgeCSS().purge({
    content,
    skippedContentGlobs,
    css: [{ raw: compiled.css }],
    safelist: SAFELIST,
  });
  fs.writeFileSync(path.join(out, name), result.css);
  console.log(`${name}: ${result.css.length} bytes`);
}
