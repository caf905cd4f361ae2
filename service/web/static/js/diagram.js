// Loading a case's or a version's diagram XML through the versions API, and marking elements.
"use strict";

const Diagram = (() => {
  // The XML of the version a case runs on: its number from the case, else from the published
  // versions every member of staff may list, else from the version history (oversight roles).
  async function versionNumber(found) {
    if (found.version_number) return found.version_number;
    const listed = await api("GET", "/procedures");
    const published = listed.procedures.find(
      (p) => p.procedure === found.procedure && p.content_hash === found.version_hash);
    if (published) return published.version;
    const history = await api("GET", `/procedures/${encodeURIComponent(found.procedure)}/versions`);
    const version = history.versions.find((v) => v.content_hash === found.version_hash);
    if (!version) throw new ApiError(404, { error: { message: "version not found" } });
    return version.number;
  }

  async function xmlForCase(found) {
    const number = await versionNumber(found);
    return api("GET", `/procedures/${encodeURIComponent(found.procedure)}/versions/${number}/bpmn`);
  }

  function mark(viewer, ids, marker) {
    const registry = viewer.get("elementRegistry");
    const canvas = viewer.get("canvas");
    const found = [];
    for (const id of ids) {
      if (id && registry.get(id)) { canvas.addMarker(id, marker); found.push(id); }
    }
    return found;
  }

  function unmarkAll(viewer, marker) {
    const canvas = viewer.get("canvas");
    for (const element of viewer.get("elementRegistry").getAll()) {
      if (canvas.hasMarker(element, marker)) canvas.removeMarker(element, marker);
    }
  }

  async function show(viewer, xml) {
    await viewer.importXML(xml);
    viewer.get("canvas").zoom("fit-viewport", "auto");
  }

  return { xmlForCase, mark, unmarkAll, show };
})();
