// Preloaded into jsii's node process by circleci_network.provider_loading.load_provider_javascript_lazily().
// A prebuilt provider's lib/index.js is ~2,200 lines `exports.vpc = require("./vpc");`: node loads every
// resource module (AWS: ~3.4 s, ~450 MB) although jsii looks up only the classes Python uses, through
// `exports[namespace][name]`. Each such line becomes a getter that requires the module on first access.
"use strict";
const Module = require("module");

const compile = Module.prototype._compile;
const line = /^exports\.([A-Za-z_$][\w$]*) = require\("(\.\/[^"]+)"\);$/gm;

function isProviderIndex(filename) {
  const path = filename.replace(/\\/g, "/");
  return path.includes("/@cdktf/provider-") && path.endsWith("/lib/index.js");
}

Module.prototype._compile = function (content, filename) {
  if (isProviderIndex(filename)) {
    content = content.replace(line, (_, name, target) => {
      const key = JSON.stringify(name);
      const path = JSON.stringify(target);
      return (
        `Object.defineProperty(exports, ${key}, { enumerable: true, configurable: true, get() {` +
        ` const value = require(${path});` +
        ` Object.defineProperty(exports, ${key}, { value, enumerable: true, writable: true, configurable: true });` +
        ` return value; } });`
      );
    });
  }
  return compile.call(this, content, filename);
};
